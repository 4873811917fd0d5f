"""Process plumbing every service shares: logging, the health/metrics server, shutdown."""

from services.runtime.health import Health, ServiceServer, serve
from services.runtime.logs import configure_logging
from services.runtime.shutdown import StopFlag, install_signal_handlers

__all__ = [
    "Health",
    "ServiceServer",
    "StopFlag",
    "configure_logging",
    "install_signal_handlers",
    "serve",
]
