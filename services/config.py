"""Typed settings, built once from the environment.

Every field documents the environment variable it reads. Variable names reuse the original stack's
(`KAFKA_BOOTSTRAP_SERVERS`, `POSTGRES_*`, `OPENWEATHER_API_KEY`, `GITHUB_TOKEN`). A bad value fails at
start-up with a `ConfigError` that names the variable, never later inside a loop.
"""

from __future__ import annotations

from typing import Literal, TypeVar
from urllib.parse import quote

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

S = TypeVar("S", bound=BaseSettings)


class ConfigError(Exception):
    """A setting is missing or invalid; the message names the environment variable(s)."""


def load(cls: type[S]) -> S:
    """Build a settings object from the environment, turning validation errors into ConfigError."""
    try:
        return cls()
    except ValidationError as exc:
        prefix = cls.model_config.get("env_prefix", "") or ""
        problems = []
        for err in exc.errors():
            field = str(err["loc"][0]) if err["loc"] else "?"
            var = f"{prefix}{field}".upper()
            value = err.get("input")
            shown = (
                "" if value is None or "password" in var.lower() or "key" in var.lower() else f"={value!r}"
            )
            problems.append(f"{var}{shown}: {err['msg']}")
        raise ConfigError("invalid configuration: " + "; ".join(problems)) from None


_BASE = SettingsConfigDict(frozen=True, extra="ignore", case_sensitive=False)

DEFAULT_METRICS_PORTS: dict[str, int] = {
    "producer-crypto": 9101,
    "producer-github": 9102,
    "producer-weather": 9103,
    "sink": 9104,
    "lake-sync": 9105,
}
"""One default port per long-running service (the order `datastack dev` and the charts use), so the
README's "sink in one terminal, a producer in another" works without setting METRICS_PORT."""


class KafkaSettings(BaseSettings):
    model_config = SettingsConfigDict(**_BASE, env_prefix="KAFKA_")

    bootstrap_servers: str = Field("127.0.0.1:59092", min_length=3)
    """KAFKA_BOOTSTRAP_SERVERS: comma-separated host:port list."""
    security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    """KAFKA_SECURITY_PROTOCOL."""
    sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] | None = None
    """KAFKA_SASL_MECHANISM (with a SASL protocol)."""
    sasl_username: str | None = None
    """KAFKA_SASL_USERNAME."""
    sasl_password: SecretStr | None = None
    """KAFKA_SASL_PASSWORD."""
    ssl_ca_location: str | None = None
    """KAFKA_SSL_CA_LOCATION: CA bundle path (Strimzi cluster CA)."""
    topic_namespace: str = Field("", pattern=r"^[A-Za-z0-9._-]{0,100}$")
    """KAFKA_TOPIC_NAMESPACE: prefix for every topic name (isolates test runs on a shared broker)."""

    @field_validator("bootstrap_servers")
    @classmethod
    def _host_port(cls, value: str) -> str:
        for server in value.split(","):
            host, sep, port = server.strip().rpartition(":")
            if not sep or not host or not port.isdigit():
                raise ValueError(f"expected host:port[,host:port...], got {server!r}")
        return value

    def client_config(self) -> dict[str, str | int | float | bool]:
        """librdkafka settings shared by producers, consumers and admin clients."""
        conf: dict[str, str | int | float | bool] = {
            "bootstrap.servers": self.bootstrap_servers,
            "security.protocol": self.security_protocol.lower(),
        }
        if self.sasl_mechanism:
            conf["sasl.mechanism"] = self.sasl_mechanism
        if self.sasl_username:
            conf["sasl.username"] = self.sasl_username
        if self.sasl_password:
            conf["sasl.password"] = self.sasl_password.get_secret_value()
        if self.ssl_ca_location:
            conf["ssl.ca.location"] = self.ssl_ca_location
        return conf


class PostgresSettings(BaseSettings):
    model_config = SettingsConfigDict(**_BASE, env_prefix="POSTGRES_")

    host: str = "127.0.0.1"
    """POSTGRES_HOST."""
    port: int = Field(55432, ge=1, le=65535)
    """POSTGRES_PORT."""
    db: str = Field("datastack", min_length=1)
    """POSTGRES_DB: database holding the raw tables."""
    user: str = Field("datastack", min_length=1)
    """POSTGRES_USER."""
    password: SecretStr = SecretStr("")
    """POSTGRES_PASSWORD."""
    sslmode: Literal["disable", "allow", "prefer", "require", "verify-ca", "verify-full"] = "prefer"
    """POSTGRES_SSLMODE."""

    def conninfo(self, dbname: str | None = None) -> str:
        """A libpq URI; the password is percent-encoded, never interpolated into SQL."""
        user = quote(self.user, safe="")
        pw = quote(self.password.get_secret_value(), safe="")
        auth = f"{user}:{pw}" if pw else user
        return (
            f"postgresql://{auth}@{self.host}:{self.port}/{quote(dbname or self.db, safe='')}"
            f"?sslmode={self.sslmode}&application_name=datastack"
        )


class ServiceSettings(BaseSettings):
    """Process-level settings every long-running service shares."""

    model_config = SettingsConfigDict(**_BASE)

    metrics_port: int | None = Field(None, ge=0, le=65535)
    """METRICS_PORT: serves /metrics, /healthz and /readyz; unset = the service's own default
    (`DEFAULT_METRICS_PORTS`), so services started by hand on one host do not collide; 0 picks a
    free port."""
    metrics_host: str = "0.0.0.0"  # noqa: S104 - must be reachable by the kubelet and Prometheus
    """METRICS_HOST."""
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    """LOG_LEVEL."""
    log_format: Literal["json", "console"] = "json"
    """LOG_FORMAT: json for Kubernetes, console for humans."""
    shutdown_timeout_s: float = Field(20.0, gt=0, le=120)
    """SHUTDOWN_TIMEOUT_S: bound on flushing/committing after SIGTERM (k8s grace is 30 s)."""
    liveness_stall_s: float = Field(120.0, gt=0)
    """LIVENESS_STALL_S: /healthz fails when the main loop has not ticked for this long."""

    def port_for(self, service: str) -> int:
        """METRICS_PORT if set, else the service's default port."""
        return self.metrics_port if self.metrics_port is not None else DEFAULT_METRICS_PORTS[service]
