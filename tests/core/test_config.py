"""Configuration fails fast, naming the variable; secrets are never echoed."""

from __future__ import annotations

import subprocess

import pytest

from services.config import ConfigError, KafkaSettings, PostgresSettings, ServiceSettings, load
from tests.support.proc import DATASTACK


@pytest.mark.parametrize(
    ("var", "value", "cls"),
    [
        ("KAFKA_BOOTSTRAP_SERVERS", "no-port-here", KafkaSettings),
        ("KAFKA_SECURITY_PROTOCOL", "CARRIER_PIGEON", KafkaSettings),
        ("KAFKA_TOPIC_NAMESPACE", "bad namespace!", KafkaSettings),
        ("POSTGRES_PORT", "not-a-number", PostgresSettings),
        ("POSTGRES_PORT", "70000", PostgresSettings),
        ("METRICS_PORT", "-1", ServiceSettings),
        ("LOG_LEVEL", "CHATTY", ServiceSettings),
    ],
)
def test_bad_value_names_the_variable(
    monkeypatch: pytest.MonkeyPatch, var: str, value: str, cls: type
) -> None:
    monkeypatch.setenv(var, value)
    with pytest.raises(ConfigError, match=var):
        load(cls)


def test_password_is_not_echoed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KAFKA_SASL_PASSWORD", "")
    monkeypatch.setenv("KAFKA_SASL_MECHANISM", "NOPE-hunter2")
    with pytest.raises(ConfigError) as info:
        load(KafkaSettings)
    assert "KAFKA_SASL_MECHANISM" in str(info.value)


def test_conninfo_quotes_credentials() -> None:
    pg = PostgresSettings(user="a@b", password="p:w/d?", db="my db")  # type: ignore[arg-type]
    uri = pg.conninfo()
    assert "a%40b:p%3Aw%2Fd%3F@" in uri
    assert "/my%20db?" in uri


def test_kafka_client_config_carries_sasl() -> None:
    conf = KafkaSettings(
        bootstrap_servers="a:1,b:2",
        security_protocol="SASL_SSL",
        sasl_mechanism="SCRAM-SHA-512",
        sasl_username="u",
        sasl_password="s3cret",  # type: ignore[arg-type]
    ).client_config()
    assert conf["security.protocol"] == "sasl_ssl"
    assert conf["sasl.password"] == "s3cret"


def test_cli_exits_2_with_the_variable_name() -> None:
    result = subprocess.run(
        [DATASTACK, "sink"],
        env={"PATH": "/usr/bin:/bin", "KAFKA_BOOTSTRAP_SERVERS": "nonsense"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert "KAFKA_BOOTSTRAP_SERVERS" in result.stderr
