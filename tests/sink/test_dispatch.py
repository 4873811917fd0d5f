"""How the consumer hands batches to its writer processes ("lanes"): the scheduling policy of
service.py, driven step by step. The lanes are stood in for by a recorder of what each was handed
and what it committed (the real lanes, PostgreSQL and Kafka are exercised by the delivery, fault
and rebalance tests); no Kafka connection is made, as the consumer never subscribes here."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from services.config import KafkaSettings, PostgresSettings
from services.runtime import Health, StopFlag
from services.sink.committer import LANE_DEPTH, Chunk, InFlight
from services.sink.service import TP, Sink
from services.sink.settings import SinkSettings

LIMIT = 100
P0, P1, P2 = ("crypto", 0), ("crypto", 1), ("crypto", 2)


class _Lanes:
    """Stands in for the Committer: records the batches each lane is handed, in order."""

    def __init__(self, lanes: int) -> None:
        self.handed: list[list[list[Chunk]]] = [[] for _ in range(lanes)]
        self.in_flight: dict[int, InFlight] = {}
        self.outstanding: list[list[int]] = [[] for _ in range(lanes)]
        self.ready = True
        self._next = 0

    @property
    def lanes(self) -> int:
        return len(self.handed)

    def room(self, lane: int) -> int:
        return LANE_DEPTH - len(self.outstanding[lane])

    def in_flight_on(self, lane: int) -> int:
        return len(self.outstanding[lane])

    def submit(self, lane: int, chunks: list[Chunk]) -> None:
        self._next += 1
        self.handed[lane].append(chunks)
        self.outstanding[lane].append(self._next)
        self.in_flight[self._next] = InFlight.of(lane, chunks)

    def commit_oldest(self, lane: int) -> list[tuple[InFlight, bool]]:
        """The lane commits its oldest batch (lanes commit in the order they were handed)."""
        return [(self.in_flight.pop(self.outstanding[lane].pop(0)), True)]


@pytest.fixture
def sink(kafka_settings: KafkaSettings, pg_settings: PostgresSettings) -> Iterator[Sink]:
    cfg = SinkSettings(batch_max_messages=LIMIT, batch_max_wait_ms=60_000)
    sink = Sink(kafka_settings, pg_settings, cfg, StopFlag(), Health(60.0))
    yield sink
    sink.consumer.close()


def _lanes(sink: Sink, n: int) -> _Lanes:
    lanes = _Lanes(n)
    sink.committer = lanes  # type: ignore[assignment]
    return lanes


def _consumed(sink: Sink, tp: TP, n: int, start: int | None = None) -> None:
    """n more messages of a partition (from `start`, else after its last buffered one), as the
    consume loop buffers them."""
    chunk = sink.pending.get(tp)
    if chunk is None:
        chunk = sink.pending[tp] = Chunk(*tp)
        sink.pending_since[tp] = time.monotonic()
    if start is None:
        start = chunk.offsets[-1] + 1 if chunk.offsets else 0
    for offset in range(start, start + n):
        chunk.offsets.append(offset)
        chunk.timestamps.append(0)
        chunk.keys.append(None)
        chunk.values.append(b"{}")


def _partitions(batches: list[list[Chunk]]) -> list[set[TP]]:
    return [{(c.topic, c.partition) for c in batch} for batch in batches]


def test_a_backlog_partition_gets_several_batches_in_flight_all_on_one_lane_in_order(sink: Sink) -> None:
    lanes = _lanes(sink, 2)
    _consumed(sink, P0, LANE_DEPTH * LIMIT + 10)
    sink._dispatch()
    # All of its full batches leave at once (the lane decodes the next while it writes one), to
    # one lane; the other lane gets none of it, so the partition's batches commit in Kafka order.
    owner = 0 if lanes.handed[0] else 1
    assert lanes.handed[1 - owner] == []
    offsets = [c.offsets for batch in lanes.handed[owner] for c in batch]
    assert [len(o) for o in offsets] == [LIMIT] * LANE_DEPTH
    assert [o for chunk in offsets for o in chunk] == list(range(LANE_DEPTH * LIMIT))
    assert sink.pinned == {P0: owner}
    # The 10 left over wait for their window: not a full batch.
    assert len(sink.pending[P0]) == 10
    # Committing one makes room on its lane, and the rest of the partition still goes there only.
    sink._finish(lanes.commit_oldest(owner))
    _consumed(sink, P0, LIMIT - 10)
    sink._dispatch()
    assert lanes.handed[1 - owner] == []
    assert lanes.handed[owner][-1][0].offsets[0] == LANE_DEPTH * LIMIT


def test_partitions_with_nothing_in_flight_go_first_and_spread_over_the_lanes(sink: Sink) -> None:
    lanes = _lanes(sink, 2)
    for tp in (P0, P1):
        _consumed(sink, tp, 3 * LIMIT)
    sink._dispatch()
    first = [_partitions(lane)[0] for lane in lanes.handed]
    # Each lane's first batch is a different partition: neither waits behind the other's backlog.
    assert sorted(map(sorted, first)) == [[P0], [P1]]
    # Then each partition stays on its lane.
    for lane in lanes.handed:
        assert len(set().union(*_partitions(lane))) == 1
    # A new partition does not wait behind the older backlog of the lane that has room next.
    assert all(lanes.room(lane) == 0 for lane in range(2))
    _consumed(sink, P0, LIMIT)
    _consumed(sink, P2, LIMIT)
    sink._finish(lanes.commit_oldest(0))
    sink._dispatch()
    assert _partitions(lanes.handed[0][-1:]) == [{P2}]


def test_an_idle_lane_takes_a_partition_over_once_its_batches_elsewhere_are_committed(sink: Sink) -> None:
    lanes = _lanes(sink, 2)
    # Lane 0 holds two partitions with a backlog, lane 1 one (three partitions on two lanes).
    sink.pinned.update({P0: 0, P1: 0, P2: 1})
    sink.in_flight_batches.update({P0: 1, P1: 1, P2: 1})
    for tp, lane in ((P0, 0), (P1, 0), (P2, 1)):
        lanes.submit(lane, [Chunk(*tp, offsets=[0], timestamps=[0], keys=[None], values=[b"{}"])])
    # Lane 1 finishes its partition and has nothing left to take.
    sink._finish(lanes.commit_oldest(1))
    assert P2 not in sink.pinned
    for tp in (P0, P1):
        _consumed(sink, tp, LIMIT, start=1)
    sink._dispatch()
    # One of lane 0's partitions is moving to lane 1: lane 0 gets no new batch of it, and lane 1
    # none either while its earlier batch on lane 0 is uncommitted.
    assert len(sink.moving) == 1
    (moving,) = sink.moving
    staying = P1 if moving == P0 else P0
    assert _partitions(lanes.handed[0][-1:]) == [{staying}]
    assert lanes.handed[1] == [lanes.handed[1][0]]  # only the batch it had before
    # Lane 0 commits its oldest batches; once the moving partition's last one there is committed,
    # its next batch goes to lane 1.
    while sink.pinned.get(moving) == 0:
        sink._finish(lanes.commit_oldest(0))
    sink._dispatch()
    assert moving not in sink.moving
    assert _partitions(lanes.handed[1][-1:]) == [{moving}]
    assert lanes.handed[1][-1][0].offsets[0] == 1  # right after its last committed offset
