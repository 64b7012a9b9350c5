"""Uploads that arrive together handed over together: one batch run instead of a run each.

A run costs a process start and a handful of task-run state writes whatever its size,
so a burst handed over one object at a time is capped far below what a backfill of the
same objects does. `GroupingHandOver` wraps the webhook's hand-over: on a quiet system
an object goes at once, alone (the fast single-upload path); while hand-overs are
under way, objects that arrive within a window are gathered, up to a bound, and
handed over as one group. Each SNS request is held until its group is handed over, so
a failure still answers every one of them with 503, and SNS retries.

Three clocks: `quiet_seconds` after the last hand-over an upload goes alone again
(short, so that uploads one after another each go at once, and so does the last
straggler of a burst); `window_seconds` is the longest a group under a burst gathers
(long enough that a burst makes few, full groups: every run costs seconds of CPU
whatever its size, measured with bench/burst.py); and a group that nothing has joined
for `idle_seconds`, while no other hand-over held its callers back, goes before its
window ends: the burst is over, and its last objects would otherwise wait out the
window (2.5 s, twice, at the end of a 1,000-upload burst). A sizeable group whose steady
stream stops goes sooner still (`STALL_GAPS`): when uploaders wait for their deliveries'
answers (moto's SNS delivers inside the PUT), every caller is held in the group, nothing
more can arrive, and each second of idle waiting stops every uploader. After such a
group the system counts as busy for `idle_seconds`, not `quiet_seconds`: its callers,
released together, come back together, and the first of them would otherwise find the
system quiet and go alone, in a run of its own.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence

from docproc.models import ObjectRef
from docproc.webhook import HandOver, HandOverError

QUIET_SECONDS = 0.25
WINDOW_SECONDS = 2.5
# Arrivals under a burst come tens of milliseconds apart (moto: 50-110 uploads/s), but a
# saturated machine stalls them for half a second now and then: cut there, a burst made
# groups of 3-10 (bench/burst.py with AWS-like delivery).
IDLE_SECONDS = 1.0
# Each run costs about a CPU-second whatever its size, in its process and in the Prefect
# server (bench/burst.py, 2026-12-07, 1,000 uploads: 13 runs of up to 99 took 18.4
# CPU-s of docproc and Prefect, 8 of up to 198 took 12.9, 5 of up to 300 took 9.3).
# Every caller of a group holds a request thread until its hand-over
# (webhook.HANDLER_THREADS: room for two full groups).
MAX_GROUP = 300
# A group of at least STALL_SIZE objects ends once nothing has joined for STALL_GAPS of
# its own average gaps between arrivals (never less than MIN_STALL_SECONDS, never more
# than idle_seconds): a stream of 100 uploads in 0.8 s that stops goes 0.16 s after its
# last arrival instead of 1 s. Under moto's own delivery, 100 uploaders each held in the
# group, a 1,000-upload burst waited 10 x 1 s for nothing (bench/burst.py, 2026-12-07).
# Smaller groups keep idle_seconds: a trickle is cut by stalls into groups of 3-10.
STALL_SIZE = MAX_GROUP // 4
STALL_GAPS = 20
MIN_STALL_SECONDS = 0.05
# A caller's answer is its group's: it waits for the leader's hand-over to end, however
# long that takes (its retries and timeouts bound it), since a caller refused while its
# group was then handed over would be delivered again by SNS, into a second run. SNS
# itself gives up on a request after 15 s and delivers it again; the webhook then
# answers that delivery once this one is settled (`webhook.RecentObjects`). This bound
# only frees the thread of a hand-over that never returns.
WAIT_SECONDS = 120.0

logger = logging.getLogger("docproc.webhook")


class _Group:
    def __init__(self) -> None:
        self.refs: list[ObjectRef] = []
        self.full = threading.Event()
        self.done = threading.Event()
        self.error: HandOverError | None = None
        self.joined = float("-inf")  # when another caller last joined the leader


class GroupingHandOver:
    """A `HandOver` that hands concurrent callers' objects over as one group.

    The first caller of a group leads it: it waits out the window (or until the
    group is full), hands the group over and tells the others the result. A leader
    arriving after a quiet spell (nothing handed over for `quiet_seconds`) goes at once.
    Every time it reads comes from `clock`, every wait goes through `wait`: a test can
    run all of it on a clock that moves only when the test moves it.
    """

    def __init__(
        self,
        hand_over: HandOver,
        window_seconds: float = WINDOW_SECONDS,
        max_group: int = MAX_GROUP,
        quiet_seconds: float = QUIET_SECONDS,
        idle_seconds: float = IDLE_SECONDS,
        stall_size: int = STALL_SIZE,
        clock: Callable[[], float] = time.monotonic,
        wait: Callable[[threading.Event, float], bool] = threading.Event.wait,
    ) -> None:
        self._hand_over = hand_over
        self._window = window_seconds
        self._quiet = quiet_seconds
        self._idle = idle_seconds
        self._stall_size = max(2, stall_size)
        self._max = max_group
        self._clock = clock
        self._wait = wait
        self._lock = threading.Lock()
        self._open: _Group | None = None
        self._busy_until = float("-inf")  # the end of the last hand-over, plus quiet_seconds
        self._handing = 0  # hand-overs under way
        self._handed = float("-inf")  # when the last one ended
        self.groups = 0

    def __call__(self, refs: Sequence[ObjectRef]) -> None:
        if not refs:
            return
        with self._lock:
            quiet = self._open is None and self._clock() >= self._busy_until
            group, leader = self._join(refs)
            # Until this hand-over ends (and quiet_seconds after), later callers gather.
            self._busy_until = float("inf")
        if not leader:
            if not self._wait(group.done, WAIT_SECONDS):
                raise HandOverError("the group of this object was not handed over in time")
            if group.error is not None:
                raise group.error
            return
        opened = self._clock()
        if not quiet:
            self._gather(group, opened)
        with self._lock:
            if self._open is group:
                self._open = None
            self._handing += 1
        gathered = self._clock()
        try:
            self._hand_over(list(group.refs))
            logger.info(
                "handed over %d object(s) as one group: gathered in %.2f s, handed over in %.2f s",
                len(group.refs),
                gathered - opened,
                self._clock() - gathered,
            )
        except HandOverError as exc:
            group.error = exc
            raise
        except Exception as exc:
            group.error = HandOverError(f"hand-over of {len(group.refs)} object(s) failed: {exc}")
            raise
        finally:
            with self._lock:
                self.groups += 1
                self._handing -= 1
                self._handed = self._clock()
                after = self._idle if self._bursting(group) else self._quiet
                self._busy_until = self._handed + after
            group.done.set()

    def _gather(self, group: _Group, opened: float) -> None:
        """Wait until the group is full, its window ends, or it has been idle.

        Idle needs company (a lone object waits for the burst it belongs to) and counts
        only while no other hand-over is under way: that one holds its callers, and
        callers just released take a round trip to come back (with moto's own delivery,
        inside the bench's 100 upload threads, 99 of them wait in the group being handed
        over).
        """
        deadline = opened + self._window
        while True:
            with self._lock:
                now = self._clock()
                if group.joined == float("-inf"):
                    idle_end = float("inf")
                elif self._handing:
                    idle_end = now + self._idle
                else:
                    idle_end = max(group.joined, self._handed) + self._idle_for(group, opened)
            wake = min(deadline, idle_end)
            # Looked at again every MIN_STALL_SECONDS: joining does not wake the leader.
            if now >= wake or self._wait(group.full, min(wake - now, MIN_STALL_SECONDS)):
                return

    def _bursting(self, group: _Group) -> bool:
        """A group of `stall_size` or more: a burst under way, its callers a stream."""
        return len(group.refs) >= self._stall_size

    def _idle_for(self, group: _Group, opened: float) -> float:
        """How long `group` may go without company before it goes (lock held)."""
        if not self._bursting(group):
            return self._idle
        gap = (group.joined - opened) / (len(group.refs) - 1)
        return min(self._idle, max(MIN_STALL_SECONDS, STALL_GAPS * gap))

    def _join(self, refs: Sequence[ObjectRef]) -> tuple[_Group, bool]:
        """Add `refs` to the open group, or open one; a full group is closed to newcomers.

        Called with the lock held. A caller whose objects would overflow the open
        group starts a group of its own (a request is never split between groups).
        """
        group = self._open
        if group is not None and len(group.refs) + len(refs) <= self._max:
            group.refs.extend(refs)
            group.joined = self._clock()
            if len(group.refs) >= self._max:
                self._open = None
                group.full.set()
            return group, False
        if group is not None:
            group.full.set()  # no room: hand it over now
        group = _Group()
        group.refs.extend(refs)
        self._open = group
        if len(group.refs) >= self._max:
            self._open = None
            group.full.set()  # full from the start: nothing to wait for
        return group, True
