"""SIGTERM/SIGINT -> a stop flag the main loop polls (Kubernetes sends SIGTERM, humans Ctrl-C)."""

from __future__ import annotations

import logging
import signal
import threading
from types import FrameType

log = logging.getLogger(__name__)


class StopFlag:
    def __init__(self) -> None:
        self._event = threading.Event()
        self.signal_name: str | None = None

    def set(self, reason: str = "requested") -> None:
        if not self._event.is_set():
            self.signal_name = reason
            log.info("stop requested", extra={"reason": reason})
        self._event.set()

    def is_set(self) -> bool:
        return self._event.is_set()

    def wait(self, timeout: float) -> bool:
        """Sleep up to `timeout` seconds, waking early on stop. Returns True when stopping."""
        return self._event.wait(timeout)


def install_signal_handlers(flag: StopFlag) -> None:
    def handler(signum: int, _frame: FrameType | None) -> None:
        flag.set(signal.Signals(signum).name)

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)
