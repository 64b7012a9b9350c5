"""What a backfill did, counted as it goes: the numbers behind its progress bar and report."""

from __future__ import annotations

import heapq
from collections import Counter
from dataclasses import dataclass, field

from docproc.duplicates import POSSIBLE_DUPLICATE
from docproc.markdown import code, table
from docproc.models import Reason, Status

STATUSES = tuple(Status)
KEEP_SLOWEST = 10
KEEP_FAILURES = 50
CONFLICTING_DUPLICATE = str(Reason.CONFLICTING_DUPLICATE)


@dataclass
class Summary:
    """Counts by status and reason, the slowest objects, and the failures with their error."""

    listed: int = 0
    statuses: Counter[str] = field(default_factory=Counter)
    reasons: Counter[str] = field(default_factory=Counter)
    flags: Counter[str] = field(default_factory=Counter)
    slowest: list[tuple[float, str]] = field(default_factory=list)  # a min-heap
    failures: list[tuple[str, str]] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def processed(self) -> int:
        return sum(self.statuses.values())

    @property
    def docs_per_second(self) -> float:
        return self.processed / self.seconds if self.seconds > 0 else 0.0

    def add(
        self,
        uri: str,
        status: Status,
        reasons: tuple[str, ...] = (),
        seconds: float = 0.0,
        error: str | None = None,
        flags: tuple[str, ...] = (),
    ) -> None:
        self.statuses[status] += 1
        self.reasons.update(reasons)
        self.flags.update(flags)
        if status != Status.SKIPPED:
            entry = (seconds, uri)
            if len(self.slowest) < KEEP_SLOWEST:
                heapq.heappush(self.slowest, entry)
            else:
                heapq.heappushpop(self.slowest, entry)
        if error is not None and len(self.failures) < KEEP_FAILURES:
            self.failures.append((uri, error))

    def skip(self, count: int) -> None:
        """Versions already done, known from the listing alone."""
        if count:
            self.statuses[Status.SKIPPED] += count

    def merge(self, other: Summary) -> None:
        """Fold in a part done elsewhere (a child run of a fanned-out backfill)."""
        self.statuses.update(other.statuses)
        self.reasons.update(other.reasons)
        self.flags.update(other.flags)
        for entry in other.slowest:
            heapq.heappush(self.slowest, entry)
            if len(self.slowest) > KEEP_SLOWEST:
                heapq.heappop(self.slowest)
        self.failures.extend(other.failures[: KEEP_FAILURES - len(self.failures)])

    @property
    def duplicates(self) -> int:
        """Documents of an invoice already loaded with the same values (SPEC section 10)."""
        return self.statuses[Status.DUPLICATE]

    @property
    def conflicts(self) -> int:
        """Documents held: other values under a number already loaded."""
        return self.reasons[CONFLICTING_DUPLICATE]

    @property
    def suspects(self) -> int:
        """Invoices loaded and flagged: another number with the same total, currency, date."""
        return self.flags[POSSIBLE_DUPLICATE]

    @property
    def ok(self) -> bool:
        """The exit status rule: nothing rejected, nothing failed."""
        return self.statuses[Status.REJECTED] == 0 and self.statuses[Status.FAILED] == 0

    def markdown(self, title: str) -> str:
        lines = [
            f"# {title}",
            "",
            f"{self.listed} objects listed, {self.processed} handled "
            f"in {self.seconds:.1f} s ({self.docs_per_second:.0f} docs/s)",
            "",
            table(["status", "objects"], [(s, self.statuses[s]) for s in STATUSES], "lr"),
            "",
            f"Duplicates: {self.duplicates}, conflicts held: {self.conflicts}, "
            f"suspects flagged {code(POSSIBLE_DUPLICATE)}: {self.suspects}",
        ]
        if self.reasons:
            reasons = [(code(r), n) for r, n in self.reasons.most_common()]
            lines += ["", table(["reason code", "documents"], reasons, "lr")]
        if self.slowest:
            slowest = [(code(uri), f"{s:.3f}") for s, uri in sorted(self.slowest, reverse=True)]
            lines += ["", table(["slowest objects", "seconds"], slowest, "lr")]
        if self.failures:
            failures = [(code(uri), err) for uri, err in self.failures]
            lines += ["", table(["failed object", "error"], failures)]
        return "\n".join(lines) + "\n"
