from docproc.summary import KEEP_SLOWEST, Summary


def test_counts_slowest_and_failures() -> None:
    s = Summary(listed=30)
    s.skip(5)
    s.skip(0)
    for i in range(20):
        s.add(f"s3://b/{i}", "loaded", seconds=i / 10)
    s.add("s3://b/bad", "rejected", ("bad_date", "total_mismatch"), 0.05)
    s.add("s3://b/gone", "failed", error="ObjectMissing: gone")
    s.seconds = 2.0
    assert dict(s.statuses) == {"skipped": 5, "loaded": 20, "rejected": 1, "failed": 1}
    assert s.processed == 27
    assert s.docs_per_second == 13.5
    assert not s.ok
    assert len(s.slowest) == KEEP_SLOWEST
    assert max(s.slowest) == (1.9, "s3://b/19")
    assert min(s.slowest) == (1.0, "s3://b/10")
    text = s.markdown("Backfill of `s3://b/`")
    assert "| rejected | 1 |" in text
    assert "| `bad_date` | 1 |" in text
    assert "| `s3://b/gone` | ObjectMissing: gone |" in text


def test_merge_adds_parts_done_elsewhere() -> None:
    a, b = Summary(), Summary()
    a.add("s3://b/1", "loaded", seconds=0.1)
    b.add("s3://b/2", "rejected", ("bad_id",), 0.2)
    a.merge(b)
    assert dict(a.statuses) == {"loaded": 1, "rejected": 1}
    assert a.reasons == {"bad_id": 1}
    assert max(a.slowest) == (0.2, "s3://b/2")


def test_ok_when_nothing_rejected_or_failed() -> None:
    s = Summary()
    s.skip(3)
    s.add("s3://b/1", "loaded")
    assert s.ok
