"""Grouping of uploads that arrive together: one hand-over per group, one answer for all.

The tests never assert how long anything took. Where a rule is about time (the quiet
spell, the window, idle groups, how long a caller waits), the grouping runs on a
`FakeClock` that moves only when the test moves it; elsewhere windows are far longer
than the test needs (a group is cut by its bound) and the system is made quiet or busy
explicitly.
"""

from __future__ import annotations

import contextlib
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from devtools.sns_signing import (
    SigningIdentity,
    encode,
    make_identity,
    s3_event,
    signed_message,
    sns_timestamp,
)
from docproc import events
from docproc.grouping import MAX_GROUP, GroupingHandOver
from docproc.models import ObjectRef
from docproc.settings import Settings
from docproc.webhook import HandOverError, create_app
from tests.support.web import serving

BUCKET = "src"
LONG = 30.0  # a window no test waits out: groups end by their bound
HOUR = 3600.0


def ref(i: int, bucket: str = BUCKET) -> ObjectRef:
    return ObjectRef(bucket, f"in/{i:03d}.txt", f"etag{i}")


class Recorder:
    """A hand-over that records its calls; it can fail, or hold until released."""

    def __init__(self, fail: bool = False) -> None:
        self.calls: list[list[ObjectRef]] = []
        self.fail = fail
        self.release = threading.Event()
        self.release.set()
        self.entered = threading.Event()
        self._lock = threading.Lock()

    def __call__(self, refs: Sequence[ObjectRef]) -> None:
        self.entered.set()
        self.release.wait(LONG)
        with self._lock:
            self.calls.append(list(refs))
        if self.fail:
            raise HandOverError("Prefect API down")


def eventually(predicate: Callable[[], bool]) -> None:
    """Wait (in real time, at most LONG) until `predicate` holds: for threads to get
    somewhere, never for time to pass."""
    give_up = time.monotonic() + LONG
    while not predicate():
        assert time.monotonic() < give_up, "the threads never got there"
        time.sleep(0.001)


class FakeClock:
    """Time that moves only when the test moves it: `clock=` and `wait=` of the grouping.

    A wait ends when its event is set or the test has moved the time to its deadline.
    `blocked()` counts the waits that neither has ended: once every thread a test
    started is blocked, nothing happens until the test moves the time or sets an event.
    """

    def __init__(self) -> None:
        self.now = 0.0
        self._lock = threading.Lock()
        self._waits: dict[int, tuple[threading.Event, float]] = {}

    def __call__(self) -> float:
        with self._lock:
            return self.now

    def advance(self, seconds: float) -> None:
        with self._lock:
            self.now += seconds

    def wait(self, event: threading.Event, timeout: float) -> bool:
        me = threading.get_ident()
        with self._lock:
            deadline = self.now + timeout
            self._waits[me] = (event, deadline)
        give_up = time.monotonic() + LONG  # a wait the test never ends fails, not hangs
        try:
            while not event.wait(0.001):
                if self() >= deadline:
                    return event.is_set()
                assert time.monotonic() < give_up, f"no test moved the clock to {deadline}"
            return True
        finally:
            with self._lock:
                del self._waits[me]

    def blocked(self) -> int:
        with self._lock:
            return sum(not e.is_set() and self.now < d for e, d in self._waits.values())


def faked(recorder: Recorder, **options: Any) -> tuple[GroupingHandOver, FakeClock]:
    """A grouping on a fake clock: quiet, window and idle spells of an hour and a bound of
    ten, unless `options` say otherwise."""
    clock = FakeClock()
    defaults = {"window_seconds": HOUR, "quiet_seconds": HOUR, "idle_seconds": HOUR}
    options = defaults | {"max_group": 10} | options
    return GroupingHandOver(recorder, clock=clock, wait=clock.wait, **options), clock


def in_background(call: Callable[[], object]) -> Future[object]:
    pool = ThreadPoolExecutor(1)
    future = pool.submit(call)
    pool.shutdown(wait=False)
    return future


def busy(grouping: GroupingHandOver, recorder: Recorder) -> threading.Thread:
    """A hand-over in progress, so that the callers that follow are gathered. Give the
    grouping a long `quiet_seconds`: released, the callers must not find the system quiet,
    however slowly they arrive."""
    recorder.release.clear()

    def hand_over_one() -> None:
        # A failing recorder fails this one too; the test looks at the others.
        with contextlib.suppress(HandOverError):
            grouping([ref(999)])

    first = threading.Thread(target=hand_over_one)
    first.start()
    assert recorder.entered.wait(LONG)
    return first


def call_all(grouping: GroupingHandOver, batches: list[list[ObjectRef]]) -> list[str]:
    """Each batch from a thread of its own, at once; what each caller saw."""

    def one(refs: list[ObjectRef]) -> str:
        try:
            grouping(refs)
        except HandOverError as exc:
            return f"error: {exc}"
        return "ok"

    with ThreadPoolExecutor(len(batches)) as pool:
        return list(pool.map(one, batches))


def test_a_lone_upload_on_a_quiet_system_goes_at_once_alone() -> None:
    recorder = Recorder()
    grouping = GroupingHandOver(recorder, window_seconds=LONG, idle_seconds=LONG)
    grouping([ref(1)])  # would hang for the window if it waited
    grouping_done = grouping.groups
    assert recorder.calls == [[ref(1)]] and grouping_done == 1


def returns_soon(call: Callable[[], None]) -> bool:
    """Whether `call` returns well within LONG: a hand-over that waited out an hour's
    window would not."""
    thread = threading.Thread(target=call, daemon=True)
    thread.start()
    thread.join(LONG)
    return not thread.is_alive()


def test_quiet_is_its_own_clock_not_the_window() -> None:
    recorder = Recorder()
    grouping, clock = faked(recorder, quiet_seconds=1.0, max_group=2)
    assert returns_soon(lambda: grouping([ref(1)]))
    clock.advance(1.5)  # quiet again, though well within the window
    assert returns_soon(lambda: grouping([ref(2)]))
    clock.advance(0.5)  # within quiet_seconds of the last hand-over: these two gather
    assert call_all(grouping, [[ref(3)], [ref(4)]]) == ["ok", "ok"]
    assert [sorted(r.key for r in c) for c in recorder.calls] == [
        [ref(1).key],
        [ref(2).key],
        [ref(3).key, ref(4).key],
    ]


def test_a_group_handed_over_late_answers_every_caller_with_its_outcome() -> None:
    """A busy API can hold a hand-over longer than SNS waits (15 s): the callers still get
    the group's answer, not a 503 of their own that SNS would deliver again, into a
    second run of objects already handed over. (A caller used to give up at 10 s.)"""
    recorder = Entries()
    grouping, clock = faked(recorder, window_seconds=0.1)
    first = busy(grouping, recorder)  # held: so is the group that gathers behind it
    callers = in_background(lambda: call_all(grouping, [[ref(i)] for i in range(3)]))
    try:
        eventually(lambda: clock.blocked() == 3)  # the leader gathers, two wait for it
        clock.advance(0.1)  # the window ends: the group's hand-over begins, and is held
        eventually(lambda: len(recorder.begun) == 2)
        clock.advance(60.0)  # four times as long as SNS waits
        assert clock.blocked() == 2  # the two callers still wait for their group
    finally:
        recorder.release.set()
        first.join(LONG)
    assert callers.result(LONG) == ["ok"] * 3
    # Both hand-overs end once released, in either order.
    assert sorted(sorted(r.key for r in call) for call in recorder.calls) == [
        [ref(i).key for i in range(3)],
        [ref(999).key],
    ]


def test_a_request_that_fills_a_group_goes_without_waiting() -> None:
    recorder = Recorder()
    grouping = GroupingHandOver(
        recorder, window_seconds=HOUR, quiet_seconds=HOUR, idle_seconds=LONG, max_group=2
    )
    first = busy(grouping, recorder)
    recorder.release.set()
    assert returns_soon(lambda: grouping([ref(1), ref(2)]))
    first.join(LONG)
    assert [ref(1), ref(2)] in recorder.calls


def test_uploads_during_a_hand_over_are_one_group_cut_at_its_bound() -> None:
    recorder = Recorder()
    grouping = GroupingHandOver(
        recorder, window_seconds=LONG, quiet_seconds=HOUR, idle_seconds=LONG, max_group=10
    )
    first = busy(grouping, recorder)
    recorder.release.set()
    seen = call_all(grouping, [[ref(i)] for i in range(20)])
    first.join(LONG)
    assert seen == ["ok"] * 20
    groups = [g for g in recorder.calls if ref(999) not in g]
    assert [len(g) for g in groups] == [10, 10]  # the bound ends each group, not the window
    assert sorted(r.key for g in groups for r in g) == sorted(ref(i).key for i in range(20))


class Entries(Recorder):
    """A recorder that notes each hand-over as it begins, before it is released."""

    def __init__(self) -> None:
        super().__init__()
        self.begun: list[list[ObjectRef]] = []

    def __call__(self, refs: Sequence[ObjectRef]) -> None:
        self.begun.append(list(refs))
        super().__call__(refs)


def test_a_group_nothing_joins_goes_before_its_window() -> None:
    """The end of a burst: its last objects go once no more arrive, not after the window."""
    recorder = Entries()
    grouping, clock = faked(recorder, idle_seconds=0.2)
    first = busy(grouping, recorder)
    last = [threading.Thread(target=grouping, args=([ref(i)],), daemon=True) for i in (1, 2, 3)]
    for thread in last:
        thread.start()
    eventually(lambda: clock.blocked() == 3)  # they gather while the first hand-over holds them
    recorder.release.set()
    first.join(LONG)
    clock.advance(0.1)
    eventually(lambda: clock.blocked() == 3 or len(recorder.begun) > 1)
    assert recorder.begun == [[ref(999)]]  # not idle yet
    clock.advance(0.1)  # idle: nothing joined for idle_seconds, nothing else under way
    eventually(lambda: clock.blocked() == 3 or len(recorder.begun) > 1)
    assert [sorted(r.key for r in call) for call in recorder.begun[1:]] == [
        [ref(1).key, ref(2).key, ref(3).key]
    ]  # an hour's window not waited out
    for thread in last:
        thread.join(LONG)


def test_a_lone_object_under_a_burst_waits_for_company_not_idle() -> None:
    recorder = Entries()
    grouping, clock = faked(recorder, idle_seconds=0.05)
    first = busy(grouping, recorder)
    recorder.release.set()
    first.join(LONG)
    alone = threading.Thread(target=grouping, args=([ref(1)],), daemon=True)
    alone.start()
    for _ in range(10):  # ten idle spells: still waiting for company
        eventually(lambda: clock.blocked() == 1 or len(recorder.begun) > 1)
        clock.advance(0.05)
    eventually(lambda: clock.blocked() == 1 or len(recorder.begun) > 1)
    assert recorder.begun == [[ref(999)]]
    company = threading.Thread(target=grouping, args=([ref(2)],), daemon=True)
    company.start()
    eventually(lambda: clock.blocked() == 2)
    clock.advance(0.05)  # with company, and idle: both go
    for thread in (alone, company):
        thread.join(LONG)
    assert recorder.begun == [[ref(999)], [ref(1), ref(2)]]


def test_a_group_is_not_idle_while_another_hand_over_holds_its_callers() -> None:
    recorder = Entries()
    grouping, clock = faked(recorder, idle_seconds=0.05)
    first = busy(grouping, recorder)
    waiting = [threading.Thread(target=grouping, args=([ref(i)],)) for i in (1, 2)]
    waiting[0].start()
    eventually(lambda: clock.blocked() == 1)
    waiting[1].start()
    for _ in range(10):  # ten idle spells with company, but the first hand-over is under way
        eventually(lambda: clock.blocked() == 2 or len(recorder.begun) > 1)
        clock.advance(0.05)
    eventually(lambda: clock.blocked() == 2 or len(recorder.begun) > 1)
    assert recorder.begun == [[ref(999)]]
    recorder.release.set()
    first.join(LONG)
    clock.advance(0.05)  # idle once the first hand-over has ended
    for thread in waiting:
        thread.join(LONG)
    assert recorder.begun == [[ref(999)], [ref(1), ref(2)]]


def arrive_steadily(
    grouping: GroupingHandOver, clock: FakeClock, count: int, gap: float
) -> list[threading.Thread]:
    """`count` callers, one every `gap` seconds of the fake clock, each held in the group."""
    callers: list[threading.Thread] = []
    for i in range(count):
        if callers:
            clock.advance(gap)
        callers.append(threading.Thread(target=grouping, args=([ref(i)],), daemon=True))
        callers[-1].start()
        eventually(lambda: clock.blocked() == len(callers))
    return callers


def stream_after_a_hand_over(
    count: int, gap: float = 0.01
) -> tuple[Entries, FakeClock, list[threading.Thread]]:
    """A burst's next group: `count` uploads `gap` apart, then nothing; its callers held,
    as moto's SNS holds each uploader in its PUT until the webhook answers."""
    recorder = Entries()
    grouping, clock = faked(recorder, idle_seconds=1.0, max_group=100, stall_size=8)
    first = busy(grouping, recorder)
    recorder.release.set()
    first.join(LONG)
    return recorder, clock, arrive_steadily(grouping, clock, count, gap)


def still_gathering(recorder: Entries, clock: FakeClock, callers: int) -> bool:
    eventually(lambda: clock.blocked() == callers or len(recorder.begun) > 1)
    return recorder.begun == [[ref(999)]]


@pytest.mark.parametrize("gap", [0.01, 0.02])
def test_a_steady_stream_that_stops_goes_after_twenty_of_its_gaps_not_idle_seconds(
    gap: float,
) -> None:
    recorder, clock, callers = stream_after_a_hand_over(10, gap)
    clock.advance(15 * gap)
    assert still_gathering(recorder, clock, 10)  # a stream may pause that long
    clock.advance(6 * gap)  # 21 gaps after the last arrival, short of idle_seconds (1 s)
    eventually(lambda: len(recorder.begun) == 2)
    assert sorted(r.key for r in recorder.begun[1]) == sorted(ref(i).key for i in range(10))
    for caller in callers:
        caller.join(LONG)


@pytest.mark.parametrize(("size", "gathers"), [(8, True), (7, False)])
def test_after_a_bursts_group_the_system_is_busy_for_idle_seconds(size: int, gathers: bool) -> None:
    """The callers of a group of `stall_size` released together come back together: the
    first one back, after quiet_seconds, must not go alone (a run of its own)."""
    recorder = Entries()
    grouping, clock = faked(
        recorder, quiet_seconds=0.25, idle_seconds=1.0, max_group=size, stall_size=8
    )
    first = busy(grouping, recorder)
    recorder.release.set()
    first.join(LONG)
    callers = [threading.Thread(target=grouping, args=([ref(i)],)) for i in range(size)]
    for caller in callers:
        caller.start()
    for caller in callers:  # a full group goes at once
        caller.join(LONG)
    clock.advance(0.5)  # past quiet_seconds, within idle_seconds
    back = threading.Thread(target=grouping, args=([ref(100)],), daemon=True)
    back.start()
    if gathers:
        eventually(lambda: clock.blocked() == 1 or len(recorder.begun) > 2)
        assert len(recorder.begun) == 2  # it waits for company ...
        clock.advance(HOUR)  # ... until its window ends
    back.join(LONG)
    assert recorder.begun[-1] == [ref(100)]


def test_a_small_group_that_stops_waits_idle_seconds() -> None:
    """Below `stall_size` a pause is a trickle's, not a stopped burst's: no early cut."""
    recorder, clock, callers = stream_after_a_hand_over(7)
    clock.advance(0.5)
    assert still_gathering(recorder, clock, 7)
    clock.advance(0.5)  # idle_seconds after the last arrival
    eventually(lambda: len(recorder.begun) == 2)
    assert len(recorder.begun[1]) == 7
    for caller in callers:
        caller.join(LONG)


def test_a_request_is_never_split_between_groups() -> None:
    recorder = Recorder()
    # A short window: which group is left open and waits it out depends on arrival order.
    grouping = GroupingHandOver(
        recorder, window_seconds=0.2, quiet_seconds=HOUR, idle_seconds=LONG, max_group=4
    )
    first = busy(grouping, recorder)
    recorder.release.set()
    seen = call_all(grouping, [[ref(1), ref(2), ref(3)], [ref(4), ref(5)], [ref(6)]])
    first.join(LONG)
    assert seen == ["ok"] * 3
    for request in ([ref(1), ref(2), ref(3)], [ref(4), ref(5)]):
        assert any(set(request) <= set(group) for group in recorder.calls)
    assert all(len(group) <= 4 for group in recorder.calls)


def test_a_failed_hand_over_fails_every_request_of_its_group() -> None:
    recorder = Recorder(fail=True)
    grouping = GroupingHandOver(
        recorder, window_seconds=LONG, quiet_seconds=HOUR, idle_seconds=LONG, max_group=5
    )
    first = busy(grouping, recorder)
    recorder.release.set()
    seen = call_all(grouping, [[ref(i)] for i in range(5)])
    first.join(LONG)
    assert len(recorder.calls) == 2  # the first, then the group of five: one attempt each
    assert seen == ["error: Prefect API down"] * 5


def test_a_group_spanning_buckets_is_one_event_per_bucket() -> None:
    sent = events.handed_over([ref(1), ref(2), ref(3, "other"), ref(4)])
    assert [e["event"] for e in sent] == [events.OBJECTS_CREATED] * 2
    group, lone = sent
    assert group["payload"] == {
        "bucket": BUCKET,
        "objects": [["in/001.txt", "etag1"], ["in/002.txt", "etag2"], ["in/004.txt", "etag4"]],
    }
    assert [r["prefect.resource.id"] for r in group["related"]] == [
        f"s3://{BUCKET}/in/001.txt",
        f"s3://{BUCKET}/in/002.txt",
        f"s3://{BUCKET}/in/004.txt",
    ]
    assert lone["payload"] == {"bucket": "other", "objects": [["in/003.txt", "etag3"]]}
    assert [events.goes_as_group(g) for g in ([ref(1), ref(2)], [ref(3)])] == [True, False]


def test_a_full_group_is_events_prefect_accepts() -> None:
    from prefect.events import Event
    from prefect.settings import PREFECT_EVENTS_MAXIMUM_RELATED_RESOURCES

    limit = PREFECT_EVENTS_MAXIMUM_RELATED_RESOURCES.value()
    assert limit >= events.MAX_OBJECTS_PER_EVENT + 1  # its objects and the run
    sent = events.handed_over([ref(i) for i in range(MAX_GROUP)], {BUCKET: uuid.uuid4()})
    assert len(sent) == -(-MAX_GROUP // events.MAX_OBJECTS_PER_EVENT)
    for event in sent:
        Event.model_validate(event)
        assert len(event["related"]) <= limit


def test_a_group_event_id_names_its_versions_not_their_order() -> None:
    a = events.objects_created(BUCKET, [ref(1), ref(2)])
    b = events.objects_created(BUCKET, [ref(2), ref(1)])
    other = events.objects_created(BUCKET, [ref(1), ObjectRef(BUCKET, "in/002.txt", "new")])
    assert a["id"] == b["id"] != other["id"]
    assert uuid.UUID(a["id"]).version == 5
    with pytest.raises(ValueError, match="objects of"):
        events.objects_created("elsewhere", [ref(1)])


def test_a_group_delivered_again_in_another_order_gives_the_same_events() -> None:
    """Cut into events in key order: 150 objects delivered forward and backward are the
    same two events (their ids are their objects'), which the server then stores once."""
    refs = [ref(i) for i in range(150)]
    forward = events.handed_over(refs)
    backward = events.handed_over(list(reversed(refs)))
    assert [len(e["related"]) for e in forward] == [99, 51]
    assert [e["id"] for e in forward] == [e["id"] for e in backward]


# Through the webhook: SNS requests of one group each get the group's answer.


@pytest.fixture(scope="module")
def identity() -> SigningIdentity:
    return make_identity()


def post_all(identity: SigningIdentity, url: str, count: int) -> list[httpx.Response]:
    """`count` SNS notifications at once, each naming one new object (not verified here)."""
    timestamp = sns_timestamp(datetime.now(UTC))
    bodies = [
        encode(
            signed_message(
                identity,
                "Notification",
                s3_event((BUCKET, f"in%2F{i:03d}.txt", f"etag{i}")),
                timestamp=timestamp,
                message_id=str(uuid.uuid4()),
            )
        )
        for i in range(count)
    ]
    with httpx.Client(base_url=url, timeout=LONG) as client, ThreadPoolExecutor(count) as pool:
        return list(pool.map(lambda body: client.post("/sns", content=body), bodies))


@pytest.mark.parametrize("fail", [False, True])
def test_sns_requests_of_one_group_get_its_one_answer(
    identity: SigningIdentity, fail: bool
) -> None:
    recorder = Recorder(fail=fail)
    grouping = GroupingHandOver(
        recorder, window_seconds=LONG, quiet_seconds=HOUR, idle_seconds=LONG, max_group=8
    )
    settings = Settings(_env_file=None, sns_verify=False, sns_topic_arns="")  # type: ignore[call-arg]
    with serving(create_app(settings, grouping)) as url:
        first = busy(grouping, recorder)
        recorder.release.set()
        responses = post_all(identity, url, 8)
        first.join(LONG)
    assert sorted(len(c) for c in recorder.calls) == [1, 8]
    expected = 503 if fail else 200
    assert [r.status_code for r in responses] == [expected] * 8
    if not fail:
        assert all(r.json() == {"handed_over": 1, "duplicates": 0} for r in responses)


def test_no_trigger_starts_a_run_the_webhook_has_created() -> None:
    """The webhook creates each run itself (deployments/handover.py), from these
    deployments: a trigger that matched its events would start a second run."""
    import inspect

    from deployments.definitions import declared, served_flows, triggers
    from deployments.handover import BATCH_DEPLOYMENT, INVOICE_DEPLOYMENT
    from flows.process_batch import process_batch
    from flows.process_invoice import process_invoice

    assert triggers("process-batch") == []
    assert declared()["process-batch"]["entrypoint"] == "flows/process_batch.py:process_batch"
    assert f"{process_batch.name}/process-batch" == BATCH_DEPLOYMENT
    assert f"{process_invoice.name}/process-invoice" == INVOICE_DEPLOYMENT
    assert {"bucket", "objects"} <= set(inspect.signature(process_batch.fn).parameters)
    assert {"bucket", "key", "etag"} <= set(inspect.signature(process_invoice.fn).parameters)
    assert {"process-batch", "process-invoice"} <= {o["name"] for _, o in served_flows()}
    for name in declared():
        assert all(events.OBJECTS_CREATED not in t.expect for t in triggers(name))


def test_a_group_event_names_its_run_within_prefects_limit_of_related_resources() -> None:
    from prefect.server.events.schemas.events import Event

    run = uuid.uuid4()
    refs = [ref(i) for i in range(events.MAX_OBJECTS_PER_EVENT + 2)]
    first, rest = events.handed_over(refs, {BUCKET: run})  # one event per 99 objects
    for event in (first, rest):
        assert event["related"][-1] == {
            "prefect.resource.id": f"prefect.flow-run.{run}",
            "prefect.resource.role": "flow-run",
        }
        Event.model_validate(event)  # what the server's POST /events checks
    assert len(first["related"]) == events.MAX_OBJECTS_PER_EVENT + 1
    assert first["payload"]["objects"] + rest["payload"]["objects"] == events.object_pairs(refs)
    assert first["id"] != rest["id"]
    [other, lone] = events.handed_over([ref(1, "other"), ref(2, "other"), ref(3)], {BUCKET: run})
    assert all(r["prefect.resource.role"] == "object" for r in other["related"])  # not its run
    assert lone["related"][-1]["prefect.resource.id"] == f"prefect.flow-run.{run}"


@pytest.mark.parametrize(
    "name", ["process-invoice", "process-batch", "backfill-prefix", "backfill-batch"]
)
def test_deployed_runs_get_the_client_retries_serve_gives_its_own(name: str) -> None:
    from deployments.definitions import declared
    from deployments.serve import CLIENT_MAX_RETRIES

    env = declared()[name]["job_variables"]["env"]
    assert env["PREFECT_CLIENT_MAX_RETRIES"] == CLIENT_MAX_RETRIES
