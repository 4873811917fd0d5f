"""Contract-valid messages built from the real models, for feeding the sink and the lake in tests."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

from confluent_kafka import Consumer, Producer, TopicPartition

from services.config import KafkaSettings
from services.contract import STREAMS, CryptoPrice, GithubEvent, StreamName, WeatherObservation
from services.contract.envelope import encode, wrap

# Far enough in the past that a million synthetic observations stay behind 'now'.
BASE = datetime(2026, 1, 1, tzinfo=UTC)


def crypto(i: int, coin: str = "bitcoin", venue: str = "coinbase") -> tuple[bytes, bytes]:
    p = CryptoPrice(
        venue=venue,
        coin_id=coin,
        symbol=coin[:3],
        name=coin.title(),
        price=100.0 + i % 97,
        market_cap=1e9,
        volume_24h=1e6,
        bid=99.5 + i % 97,
        ask=100.5 + i % 97,
        source_updated_at=BASE + timedelta(seconds=i),
    )
    return _pack(StreamName.CRYPTO, p, "synthetic")


def github(i: int) -> tuple[bytes, bytes]:
    p = GithubEvent(
        event_id=str(10_000_000 + i),
        event_type="PushEvent",
        actor_id=i % 50,
        actor_login=f"dev{i % 50}",
        repo_id=i % 20,
        repo_name=f"org/repo{i % 20}",
        created_at=BASE + timedelta(seconds=i),
        payload={"ref": "refs/heads/main"},
    )
    return _pack(StreamName.GITHUB, p, "synthetic")


def weather(i: int, city_name: str = "São Paulo") -> tuple[bytes, bytes]:
    p = WeatherObservation(
        city_id=f"city-{i % 12}",
        city_name=city_name,
        country="BR",
        latitude=-23.55,
        longitude=-46.63,
        observed_at=BASE + timedelta(minutes=i // 12),
        temperature_c=20 + i % 10,
        humidity_pct=60,
        condition="Clouds",
    )
    return _pack(StreamName.WEATHER, p, "synthetic")


FACTORIES = {StreamName.CRYPTO: crypto, StreamName.GITHUB: github, StreamName.WEATHER: weather}


def _pack(name: StreamName, payload: Any, source: str) -> tuple[bytes, bytes]:
    env = wrap(STREAMS[name], payload, source)
    return env.key.encode(), encode(env)


def mixed(n: int, start: int = 0) -> list[tuple[StreamName, bytes, bytes]]:
    """n messages spread over the three streams, each with a unique natural key."""
    names = list(StreamName)
    return [(names[i % 3], *FACTORIES[names[i % 3]](start + i)) for i in range(n)]


def produce(
    settings: KafkaSettings,
    messages: Iterable[tuple[StreamName, bytes, bytes]],
    topic_override: dict[StreamName, str] | None = None,
) -> int:
    producer = Producer({**settings.client_config(), "enable.idempotence": True, "linger.ms": 5})
    count = 0
    for name, key, value in messages:
        topic = (topic_override or {}).get(name) or STREAMS[name].topic(settings.topic_namespace)
        producer.produce(topic, key=key, value=value)
        producer.poll(0)
        count += 1
    assert producer.flush(30) == 0, "messages not delivered"
    return count


def produce_raw(settings: KafkaSettings, topic: str, key: bytes | None, value: bytes | None) -> None:
    producer = Producer(settings.client_config())
    producer.produce(topic, key=key, value=value)
    assert producer.flush(30) == 0


def read_all(settings: KafkaSettings, topic: str, expected: int, timeout: float = 30.0) -> list[Any]:
    """Read a topic from the beginning until `expected` messages (or the timeout)."""
    consumer = Consumer(
        {
            **settings.client_config(),
            "group.id": f"reader-{topic}-{id(settings)}",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    md = consumer.list_topics(topic, timeout=10)
    consumer.assign([TopicPartition(topic, p, 0) for p in md.topics[topic].partitions])
    out: list[Any] = []
    deadline = datetime.now(UTC) + timedelta(seconds=timeout)
    while len(out) < expected and datetime.now(UTC) < deadline:
        for msg in consumer.consume(100, 0.5):
            if msg.error() is None:
                out.append(msg)
    consumer.close()
    return out


def group_caught_up(settings: KafkaSettings, group: str, topics: list[str]) -> bool:
    """True when the group's committed offsets equal the end offsets of every partition."""
    consumer = Consumer({**settings.client_config(), "group.id": group, "enable.auto.commit": False})
    try:
        parts = []
        for topic in topics:
            md = consumer.list_topics(topic, timeout=10)
            parts += [TopicPartition(topic, p) for p in md.topics[topic].partitions]
        committed = consumer.committed(parts, timeout=10)
        for tp in committed:
            _low, high = consumer.get_watermark_offsets(TopicPartition(tp.topic, tp.partition), timeout=10)
            if high > 0 and tp.offset != high:
                return False
        return True
    finally:
        consumer.close()
