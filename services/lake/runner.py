"""The `datastack sync` process: the sync loop in a worker thread, signals and probes in the main one.

The main thread only waits, so SIGTERM is handled at once even while a batch runs inside DuckDB
(Python runs signal handlers on the main thread, and only between bytecodes). On stop the worker
finishes its current batch; if that takes longer than 60% of SHUTDOWN_TIMEOUT_S the batch is
interrupted and rolled back (abandoned: its rows are copied again next time), so the process exits
0 well inside Kubernetes' 30 s grace period.
"""

from __future__ import annotations

import logging
import threading

from services.config import PostgresSettings, ServiceSettings
from services.lake import metrics
from services.lake.settings import LakeSettings, SyncSettings
from services.lake.syncer import Syncer, WriterLockHeldError
from services.runtime import Health, StopFlag, install_signal_handlers, serve

log = logging.getLogger(__name__)

_ONCE_LOCK_WAIT_S = 15.0  # a killed predecessor's session may take a moment to release the lock


def _loop(syncer: Syncer, stop: StopFlag, health: Health, sync: SyncSettings, once: bool) -> bool:
    """Run cycles until stopped (or once); True when the last cycle failed."""
    failed = False
    while not stop.is_set():
        try:
            syncer.open(lock_timeout_s=_ONCE_LOCK_WAIT_S if once else 0.0)
            result = syncer.run_cycle(stop.is_set, on_commit=health.tick)
            failed = False
            metrics.LAST_SUCCESS.set_to_current_time()
            health.set_ready(True, watermarks=result.watermarks, lag=result.lag)
            log.info(
                "sync cycle done",
                extra={
                    "rows": result.rows,
                    "batches": result.batches,
                    "watermarks": result.watermarks,
                    "lag": result.lag,
                    "interrupted": result.interrupted,
                },
            )
        except WriterLockHeldError as exc:
            failed = True
            health.set_ready(False, reason=str(exc))
            log.warning("waiting for the writer lock", extra={"error": str(exc)})
        except Exception as exc:
            syncer.close()
            if stop.is_set():
                log.info("batch abandoned on shutdown", extra={"error": str(exc)})
                break
            failed = True
            metrics.ERRORS.labels("cycle").inc()
            health.set_ready(False, reason=str(exc))
            log.exception("sync cycle failed")
        health.tick()
        if once:
            break
        stop.wait(sync.sync_interval_s)
    return failed


def run_sync(
    lake: LakeSettings,
    pg: PostgresSettings,
    sync: SyncSettings,
    service: ServiceSettings,
    *,
    once: bool,
) -> int:
    """Exit code: 0 after a clean stop or a successful --once, 1 when the (last) cycle failed."""
    stop = StopFlag()
    install_signal_handlers(stop)
    health = Health(service.liveness_stall_s)
    server = serve(health, service, "lake-sync", one_shot=once)
    log.info("sync starting", extra={"metrics_port": server and server.port, "once": once})
    syncer = Syncer(lake, pg, sync)
    outcome = {"failed": False}

    def work() -> None:
        try:
            outcome["failed"] = _loop(syncer, stop, health, sync, once)
        finally:
            syncer.close()

    # Daemon: if even the interrupt does not end the batch, exiting drops it uncommitted (safe).
    worker = threading.Thread(target=work, name="lake-sync", daemon=True)
    worker.start()
    while worker.is_alive() and not stop.wait(0.2):
        pass
    worker.join(timeout=service.shutdown_timeout_s * 0.6)
    if worker.is_alive():
        log.warning("interrupting the running batch to shut down in time")
        syncer.interrupt()
        worker.join(timeout=service.shutdown_timeout_s * 0.3)
    if server is not None:
        server.stop()
    log.info("sync stopped", extra={"reason": stop.signal_name or "done"})
    return 1 if outcome["failed"] and not stop.is_set() else 0
