"""`datastack produce crypto|github|weather`: one producer process per stream (the crypto one polls
every configured venue).

Settings are loaded inside the command, so a bad environment variable raises ConfigError here and
`services.cli.main` turns it into exit code 2 with the variable's name on stderr.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from datetime import UTC, datetime

import click
from prometheus_client import REGISTRY, CollectorRegistry

from services.config import KafkaSettings, ServiceSettings, load
from services.contract import STREAMS, StreamName
from services.producers.backoff import Backoff
from services.producers.http import Fetcher
from services.producers.metrics import ProducerMetrics
from services.producers.replay import crypto_replays, github_replay, weather_replay
from services.producers.runner import Runner, RunOptions, build_producer
from services.producers.settings import (
    CryptoSettings,
    GithubSettings,
    ProducerSettings,
    SourceMode,
    WeatherSettings,
)
from services.producers.sources.base import Source
from services.producers.sources.bitstamp import BitstampLive
from services.producers.sources.coinbase import CoinbaseLive
from services.producers.sources.coingecko import CoinGeckoLive
from services.producers.sources.gemini import GeminiLive
from services.producers.sources.github import LABEL as GITHUB
from services.producers.sources.github import GithubLive
from services.producers.sources.kraken import KrakenLive
from services.producers.sources.weather import OPEN_METEO, OPENWEATHERMAP, OpenMeteoLive, OpenWeatherLive
from services.producers.synthetic import SyntheticSource
from services.producers.venues import BITSTAMP, COINBASE, COINGECKO, GEMINI, KRAKEN, VENUES, plan
from services.runtime import Health, StopFlag, configure_logging, install_signal_handlers, serve

log = logging.getLogger(__name__)


@click.command()
@click.argument("name", type=click.Choice([s.value for s in StreamName]))
@click.option(
    "--source",
    "mode",
    type=click.Choice(["live", "replay", "synthetic"]),
    default=None,
    help="Where records come from [env PRODUCER_SOURCE, default replay].",
)
@click.option("--once", is_flag=True, help="Poll once, flush, exit.")
@click.option(
    "--interval",
    type=click.FloatRange(min=0),
    default=None,
    help="Seconds between polls [env POLL_INTERVAL_S; default 60 live/replay, 1 synthetic; "
    "0 for replay/synthetic with --count]. GitHub never polls faster than its X-Poll-Interval.",
)
@click.option(
    "--count", type=click.IntRange(min=1), default=None, help="Exit after N messages are delivered."
)
@click.option("--seed", type=click.IntRange(min=0), default=None, help="Synthetic seed [env SYNTHETIC_SEED].")
def produce(
    name: str,
    mode: SourceMode | None,
    once: bool,
    interval: float | None,
    count: int | None,
    seed: int | None,
) -> None:
    """Poll one source and publish contract messages to its Kafka topic."""
    sys.exit(run_producer(name, mode, once=once, interval=interval, count=count, seed=seed))


def run_producer(
    name: str,
    mode: SourceMode | None = None,
    *,
    once: bool = False,
    interval: float | None = None,
    count: int | None = None,
    seed: int | None = None,
    stop: StopFlag | None = None,
    registry: CollectorRegistry = REGISTRY,
    own_process: bool = True,
) -> int:
    """Wire settings, sources, Kafka producer, metrics server and loop; return the exit code.

    `own_process=False` (tests running a producer in-process) leaves logging and signal handlers of
    the host process alone; stop it through `stop` instead.
    """
    service = load(ServiceSettings)
    kafka = load(KafkaSettings)
    settings = load(ProducerSettings)
    stream = StreamName(name)
    source_settings = _load_source_settings(stream)
    mode = mode or settings.producer_source
    stop = stop or StopFlag()
    if own_process:
        configure_logging(service.log_level, service.log_format, service=f"producer-{name}")
        install_signal_handlers(stop)
    metrics = ProducerMetrics(name, name, registry)  # counted per source: metrics.for_source(label)
    health = Health(service.liveness_stall_s)
    start = datetime.now(UTC)

    if interval is None:
        interval = settings.poll_interval_s
    if interval is None:
        # --count with an offline source means "as fast as the source allows" (replay and synthetic
        # still never run further ahead of the wall clock than REPLAY_MAX_AHEAD_S).
        interval = 0.0 if count is not None and mode != "live" else (1.0 if mode == "synthetic" else 60.0)

    # The workers' stop: set on SIGTERM, --count reached or --once done; fetchers sleep on it.
    halt = StopFlag()
    fetchers: list[Fetcher] = []

    def fetcher(api: str, min_interval_s: float = 0.0) -> Fetcher:
        """One HTTP client per API, counting under its own `source` label, paced to its limits."""
        backoff = Backoff(settings.backoff_base_s, settings.backoff_max_s, settings.retry_after_max_s)
        made = Fetcher.create(
            settings.http_timeout_s,
            backoff,
            settings.http_max_attempts,
            halt,
            metrics.for_source(api),
            on_wait=health.tick,
            min_interval_s=min_interval_s,
        )
        fetchers.append(made)
        return made

    sources: list[Source] = []
    try:
        sources = _build_sources(
            stream,
            mode,
            source_settings,
            fetcher,
            start=start,
            seed=settings.synthetic_seed if seed is None else seed,
            interval_s=interval,
            count=count,
            max_ahead_s=settings.replay_max_ahead_s,
        )
        server = serve(health, service, f"producer-{name}", registry, one_shot=once or count is not None)
    except BaseException:
        for made in fetchers:
            made.close()
        raise
    topic = STREAMS[stream].topic(kafka.topic_namespace)
    log.info(
        "producer started",
        extra={
            "producer": name,
            "mode": mode,
            "sources": [s.label for s in sources],
            "topic": topic,
            "interval_s": interval,
            "once": once,
            "count": count,
            "metrics_port": server and server.port,
        },
    )
    options = RunOptions(
        interval_s=interval, once=once, count=count, shutdown_timeout_s=service.shutdown_timeout_s
    )
    try:
        producer = build_producer(kafka, f"datastack-producer-{name}", stop)
        return Runner(sources, producer, topic, metrics, health, stop, options, halt=halt).run()
    finally:
        for source in sources:
            source.close()
        for made in fetchers:
            made.close()
        if server is not None:
            server.stop()


SourceSettings = CryptoSettings | GithubSettings | WeatherSettings
FetcherFactory = Callable[..., Fetcher]
CRYPTO_LIVE: dict[str, type[CoinGeckoLive | CoinbaseLive | KrakenLive | BitstampLive | GeminiLive]] = {
    COINGECKO: CoinGeckoLive,
    COINBASE: CoinbaseLive,
    KRAKEN: KrakenLive,
    BITSTAMP: BitstampLive,
    GEMINI: GeminiLive,
}


def _load_source_settings(stream: StreamName) -> SourceSettings:
    if stream is StreamName.CRYPTO:
        return load(CryptoSettings)
    if stream is StreamName.GITHUB:
        return load(GithubSettings)
    return load(WeatherSettings)


def _build_sources(
    stream: StreamName,
    mode: SourceMode,
    settings: SourceSettings,
    fetcher: FetcherFactory,
    *,
    start: datetime,
    seed: int,
    interval_s: float,
    count: int | None,
    max_ahead_s: float,
) -> list[Source]:
    """The producer's sources: one per crypto venue (live and replay), else one. The envelope's
    `source` is each one's label: the API the data comes (or was recorded) from, or `synthetic`."""
    if mode == "synthetic":
        crypto = settings if isinstance(settings, CryptoSettings) else None
        return [
            SyntheticSource(
                stream,
                seed,
                start,
                coins=crypto.crypto_coins if crypto else (),
                venues=crypto.crypto_venues if crypto else (),
                cities=settings.weather_cities if isinstance(settings, WeatherSettings) else (),
                tick_s=interval_s,
                planned_count=count,
                max_ahead_s=max_ahead_s,
            )
        ]
    if mode == "replay":
        if isinstance(settings, WeatherSettings):
            return [weather_replay(settings.weather_cities, start, max_ahead_s)]
        if isinstance(settings, CryptoSettings):
            return list(crypto_replays(settings.crypto_coins, settings.crypto_venues, start, max_ahead_s))
        return [github_replay(start, max_ahead_s)]
    if isinstance(settings, CryptoSettings):
        return [
            CRYPTO_LIVE[listing.venue](
                settings, listing, fetcher(listing.venue, VENUES[listing.venue].min_request_interval_s)
            )
            for listing in plan(settings.crypto_venues, settings.crypto_coins)
        ]
    if isinstance(settings, GithubSettings):
        return [GithubLive(settings, fetcher(GITHUB))]
    if settings.openweather_api_key is not None:
        return [OpenWeatherLive(settings, fetcher(OPENWEATHERMAP))]
    return [OpenMeteoLive(settings, fetcher(OPEN_METEO))]
