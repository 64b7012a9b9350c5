"""The official rules across fork and threads (issue 28, point 5), each mode in a subprocess.

SaxonC is a GraalVM native image: saxonche 13.0's users saw the whole process abort
(`graal_create_isolate error`) when it was used from a forked worker or another thread, and
an abort is no exception a test can catch in-process. Each mode runs in a fresh interpreter
that must exit 0 having printed the expected findings: initialising in a forked child,
initialising then forking and using it in the child, one compiled stylesheet from four
threads (compiling it lazily, all at once, too), and a forkserver that compiled every
stylesheet before forking its workers.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "tests" / "data" / "einvoices"
UBL = DATA / "en16931-ubl" / "ubl-tc434-example2.xml"
CII = DATA / "factur-x" / "factur-x-en16931.xml"

# What every mode judges: a UBL invoice with an item classification outside its list
# (BR-CL-13) and a CII invoice whose BT-106 is not its lines' sum (BR-CO-10), which leaves
# BT-109 away from BT-106 - BT-107 + BT-108 (BR-CO-13).
PRELUDE = f"""
import json, os, sys, threading
from pathlib import Path
from docproc.formats.xml import parse
from docproc.models import Format
from docproc.rules import official

UBL_BYTES = Path({str(UBL)!r}).read_bytes().replace(
    b'listID="STI">65434568', b'listID="XX">65434568', 1)
CII_BYTES = Path({str(CII)!r}).read_bytes().replace(
    b"<ram:LineTotalAmount>95.00<", b"<ram:LineTotalAmount>95.01<", 1)
CII_PROFILE = "urn:cen.eu:en16931:2017"


def judge():
    ubl = official.check(parse(UBL_BYTES), Format.UBL, CII_PROFILE)
    cii = official.check(parse(CII_BYTES), Format.CII, CII_PROFILE)
    return sorted({{f.rule for f in official.fatal(ubl + cii)}})


def report(mode, rules, **extra):
    print(json.dumps({{"mode": mode, "pid": os.getpid(), "rules": rules, **extra}}), flush=True)


def wait(pid):
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0, status
"""

EXPECTED = ["BR-CL-13", "BR-CO-10", "BR-CO-13"]

MODES = {
    "init-in-forked-child": """
        pid = os.fork()
        if pid == 0:
            report("child", judge())
            os._exit(0)
        wait(pid)
        report("parent", judge())
    """,
    "init-then-fork": """
        report("parent", judge())
        pid = os.fork()
        if pid == 0:
            report("child", judge(), compiled=sorted(official.compiled()))
            os._exit(0)
        wait(pid)
        report("parent", judge())
    """,
    "four-threads": """
        # Nothing compiled yet: the four threads race to compile, then share the stylesheets.
        results, errors = [], []

        def work():
            try:
                for _ in range(5):
                    results.append(judge())
            except BaseException as exc:
                errors.append(repr(exc))

        threads = [threading.Thread(target=work) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert not errors, errors
        assert len(results) == 20
        for rules in results:
            report("thread", rules)
        report("main", judge(), compiled=sorted(official.compiled()))
    """,
    "forkserver": """
        import multiprocessing
        from multiprocessing import forkserver

        def worker(queue):
            compiled = sorted(official.compiled())  # before judging: the server's work
            queue.put({"pid": os.getpid(), "compiled": compiled, "rules": judge()})

        if __name__ == "__mp_main__":  # the forkserver: it imports this file before forking
            official.precompile()

        if __name__ == "__main__":
            forkserver.set_forkserver_preload(["__main__"])
            ctx = multiprocessing.get_context("forkserver")
            queue = ctx.Queue()
            workers = [ctx.Process(target=worker, args=(queue,)) for _ in range(2)]
            for w in workers:
                w.start()
            answers = [queue.get(timeout=120) for _ in workers]
            for w in workers:
                w.join(timeout=120)
                assert w.exitcode == 0, w.exitcode
            assert official.compiled() == (), "the parent compiled nothing itself"
            for answer in answers:
                report("worker", answer["rules"], compiled=answer["compiled"])
    """,
}


def run_mode(mode: str, tmp_path: Path) -> list[dict[str, object]]:
    script = tmp_path / f"{mode}.py"
    script.write_text(PRELUDE + textwrap.dedent(MODES[mode]))
    path = os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])
    env = {**os.environ, "PYTHONPATH": path}
    done = subprocess.run(
        [sys.executable, str(script)],
        capture_output=True,
        text=True,
        timeout=240,
        cwd=tmp_path,
        env=env,
        check=False,
    )
    assert done.returncode == 0, (done.returncode, done.stdout[-2000:], done.stderr[-4000:])
    return [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]


@pytest.mark.parametrize("mode", sorted(MODES))
def test_official_rules_survive(mode: str, tmp_path: Path) -> None:
    lines = run_mode(mode, tmp_path)
    assert lines, "the subprocess printed nothing"
    assert all(line["rules"] == EXPECTED for line in lines), lines
    who = [line["mode"] for line in lines]
    if mode == "init-in-forked-child":
        assert who == ["child", "parent"]
    elif mode == "init-then-fork":
        assert who == ["parent", "child", "parent"]
        assert lines[1]["pid"] != lines[0]["pid"]
        assert lines[1]["compiled"]  # the child used what its parent had compiled
    elif mode == "four-threads":
        assert who == ["thread"] * 20 + ["main"]
        assert len(lines[-1]["compiled"]) == 2  # each stylesheet compiled once
    else:
        assert who == ["worker", "worker"]
        everything = sorted(official_names())
        for line in lines:
            assert line["compiled"] == everything  # compiled in the server, before the fork


def official_names() -> list[str]:
    from docproc.rules import official

    return [official.UBL_STYLESHEET, *official.CII_STYLESHEETS.values()]
