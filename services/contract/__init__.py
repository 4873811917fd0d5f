"""The data contract shared by producers, the sink and the tests: topics, envelope, payloads."""

from services.contract.envelope import Envelope, decode, encode
from services.contract.payloads import CryptoPrice, CryptoPriceV1, GithubEvent, WeatherObservation
from services.contract.streams import STREAMS, Stream, StreamName, dlq_topic, stream_for_topic

__all__ = [
    "STREAMS",
    "CryptoPrice",
    "CryptoPriceV1",
    "Envelope",
    "GithubEvent",
    "Stream",
    "StreamName",
    "WeatherObservation",
    "decode",
    "dlq_topic",
    "encode",
    "stream_for_topic",
]
