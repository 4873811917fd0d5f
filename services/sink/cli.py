"""`datastack sink`: consume the three topics into the raw PostgreSQL tables."""

from __future__ import annotations

import logging

import click

from services.config import KafkaSettings, PostgresSettings, ServiceSettings, load
from services.runtime import Health, StopFlag, configure_logging, install_signal_handlers, serve
from services.sink.settings import SinkSettings


@click.command()
def sink() -> None:
    """Kafka -> PostgreSQL raw tables; poison messages to <topic>.dlq. Runs until SIGTERM."""
    svc = load(ServiceSettings)
    kafka, pg, cfg = load(KafkaSettings), load(PostgresSettings), load(SinkSettings)
    configure_logging(svc.log_level, svc.log_format, service="sink")
    from services.sink.service import Sink

    stop = StopFlag()
    install_signal_handlers(stop)
    health = Health(svc.liveness_stall_s)
    server = serve(health, svc, "sink")
    assert server is not None  # a long-running service fails at start-up instead
    logging.getLogger(__name__).info("metrics and health listening", extra={"port": server.port})
    try:
        Sink(kafka, pg, cfg, stop, health, shutdown_timeout_s=svc.shutdown_timeout_s).run()
    finally:
        server.stop()
