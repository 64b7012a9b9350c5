"""A PDF's text as templates see it (SPEC 2.6), read by poppler and Tesseract in child
processes held to the limits of SPEC 2.5.

Every program runs in its own process group under a memory limit (the shell's
`ulimit -v`: no `preexec_fn`, which can deadlock a process that has threads) and one
deadline for the whole document; its output is bounded too. Over a limit, the group is
killed and the PDF is `malformed_document` with the reason. Nothing is written to disk:
the PDF goes in on stdin, text and images come back on stdout. Nothing here raises.
"""

from __future__ import annotations

import contextlib
import os
import selectors
import shutil
import signal
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass

from docproc.models import Problem, Reason

DEFAULT_TIMEOUT_SECONDS = 30.0
DEFAULT_MEMORY_BYTES = 1 << 30
DEFAULT_OCR_LANGUAGES = "eng+deu+fra"
OCR_DPI = 300
# The most text a PDF may give (its pages' text, not its bytes): a real invoice has a few
# kB; a crafted one can print gigabytes from a small compressed stream.
MAX_TEXT_BYTES = 16 * 1024 * 1024
# One page rendered at 300 dpi in 8-bit grey: A4 is 8.7 MB, A0 140 MB.
MAX_IMAGE_BYTES = 256 * 1024 * 1024
_MAX_STDERR = 4096
# What a program says when the address-space limit stops it (glibc, C++, poppler).
_OUT_OF_MEMORY = (b"failed to map segment", b"bad_alloc", b"Out of memory", b"cannot allocate")
_CHUNK = 64 * 1024
# Tesseract's OpenMP threads would take every core of a worker that reads documents in
# parallel already; one each, as the benchmark measures it.
_OCR_ENV = {"OMP_THREAD_LIMIT": "1"}


@dataclass(frozen=True)
class Limits:
    """What one document's extraction may take: seconds for all its programs together,
    and bytes of address space for each."""

    timeout: float = DEFAULT_TIMEOUT_SECONDS
    memory: int = DEFAULT_MEMORY_BYTES


@dataclass(frozen=True)
class Text:
    """A PDF's text: pages separated by form feeds, as `pdftotext` writes them."""

    text: str
    pages: int


@dataclass(frozen=True)
class _Run:
    returncode: int
    stdout: bytes
    stderr: bytes


class _Stopped(Exception):
    """A program went over a limit and was killed: the sentence says which."""


def available(program: str) -> bool:
    return shutil.which(program) is not None


def has_text(text: str) -> bool:
    """Whether a text layer holds anything but blanks and page breaks."""
    return bool(text.strip())


# Seconds spent per program, added up when a caller passes one (the benchmark does).
Timings = dict[str, float]


def text_layer(
    data: bytes, limits: Limits = Limits(), timings: Timings | None = None
) -> Text | Problem:
    """`pdftotext -layout` of the PDF: the text the templates are written against."""
    if not available("pdftotext"):
        return Problem(
            Reason.MALFORMED_DOCUMENT,
            "the PDF cannot be read here: poppler's pdftotext is not installed "
            "(Debian package poppler-utils)",
        )
    deadline = time.monotonic() + limits.timeout
    try:
        run = _run(
            ["pdftotext", "-layout", "-enc", "UTF-8", "-", "-"],
            data,
            deadline=deadline,
            limits=limits,
            max_output=MAX_TEXT_BYTES,
            what="the text layer",
            timings=timings,
        )
    except _Stopped as stop:
        return Problem(Reason.MALFORMED_DOCUMENT, f"the PDF cannot be read: {stop}")
    if run.returncode != 0:
        return Problem(Reason.MALFORMED_DOCUMENT, _failed("pdftotext", run, limits))
    text = run.stdout.decode("utf-8", errors="replace")
    return Text(text, pages=max(text.count("\f"), 1))


def ocr(
    data: bytes,
    pages: int,
    *,
    languages: str = DEFAULT_OCR_LANGUAGES,
    limits: Limits = Limits(),
    timings: Timings | None = None,
) -> Text | Problem:
    """Each page rendered at 300 dpi by `pdftoppm` and read by Tesseract as one block
    with the spaces between words kept (`--psm 6`, `preserve_interword_spaces=1`), so a
    printed row stays one line with its columns; pages joined by form feeds."""
    missing = [p for p in ("pdftoppm", "tesseract") if not available(p)]
    if missing:
        return Problem(
            Reason.NO_TEXT,
            f"the PDF has no text layer, and OCR cannot run: {' and '.join(missing)} "
            "not installed (Debian packages poppler-utils, tesseract-ocr)",
        )
    deadline = time.monotonic() + limits.timeout
    texts = []
    try:
        for page in range(1, pages + 1):
            image = _render(data, page, deadline, limits, timings)
            if isinstance(image, Problem):
                return image
            read = _run(
                [
                    "tesseract",
                    "stdin",
                    "stdout",
                    "--psm",
                    "6",
                    "-l",
                    languages,
                    "-c",
                    "preserve_interword_spaces=1",
                ],
                image,
                deadline=deadline,
                limits=limits,
                max_output=MAX_TEXT_BYTES,
                what=f"the text of page {page}",
                env=_OCR_ENV,
                timings=timings,
            )
            if read.returncode != 0:
                return Problem(
                    Reason.MALFORMED_DOCUMENT,
                    _failed(f"Tesseract (page {page}, languages {languages})", read, limits),
                )
            texts.append(read.stdout.decode("utf-8", errors="replace"))
    except _Stopped as stop:
        return Problem(Reason.MALFORMED_DOCUMENT, f"the PDF cannot be read by OCR: {stop}")
    return Text("\f".join(texts) + "\f", pages=pages)


def _render(
    data: bytes, page: int, deadline: float, limits: Limits, timings: Timings | None
) -> bytes | Problem:
    run = _run(
        ["pdftoppm", "-r", str(OCR_DPI), "-gray", "-f", str(page), "-l", str(page), "-singlefile"],
        data,
        deadline=deadline,
        limits=limits,
        max_output=MAX_IMAGE_BYTES,
        what=f"the image of page {page}",
        timings=timings,
    )
    # poppler renders a page whose bitmap it cannot allocate as 1x1 and says so.
    oversized = b"Bogus memory allocation size" in run.stderr or b"Out of memory" in run.stderr
    if run.returncode != 0 or oversized or not run.stdout:
        detail = _failed(f"pdftoppm (page {page})", run, limits)
        if oversized:
            detail = f"page {page} is too large to render at {OCR_DPI} dpi ({detail})"
        return Problem(Reason.MALFORMED_DOCUMENT, f"the PDF cannot be read by OCR: {detail}")
    return run.stdout


def _failed(program: str, run: _Run, limits: Limits) -> str:
    """Why a program failed, in one sentence with the end of what it said."""
    said = run.stderr.decode("utf-8", errors="replace").strip().splitlines()
    tail = "; ".join(said[-3:])[:300]
    if run.returncode < 0:
        try:
            name = signal.Signals(-run.returncode).name
        except ValueError:
            name = f"signal {-run.returncode}"
        how = f"was stopped by {name}"
    else:
        how = f"failed (exit status {run.returncode})"
    if run.returncode < 0 or any(sign in run.stderr for sign in _OUT_OF_MEMORY):
        how += f" (it may have reached the memory limit of {limits.memory // (1 << 20)} MiB)"
    return f"{program} {how}" + (f": {tail}" if tail else "")


def _run(
    argv: Sequence[str],
    stdin: bytes,
    *,
    deadline: float,
    limits: Limits,
    max_output: int,
    what: str,
    env: dict[str, str] | None = None,
    timings: Timings | None = None,
) -> _Run:
    """Run `argv` in a new process group under `limits`, feeding `stdin`, until it ends.

    Raises `_Stopped` (after killing the group) when the deadline passes or stdout goes
    over `max_output`; the group is killed and reaped whatever happens.
    """
    kib = max(limits.memory // 1024, 1)
    # The shell sets the limit and becomes the program: the limit holds for it alone.
    command = ["sh", "-c", 'ulimit -v "$0" && exec "$@"', str(kib), *argv]
    child_env = {**os.environ, **env} if env else None
    started = time.perf_counter()
    proc = subprocess.Popen(  # noqa: S603 - fixed programs, arguments of ours
        command,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
        env=child_env,
    )
    try:
        out, err = _exchange(proc, stdin, deadline, max_output, what)
        remaining = deadline - time.monotonic()
        try:
            code = proc.wait(timeout=max(remaining, 0.01))
        except subprocess.TimeoutExpired:
            raise _Stopped(f"reading {what} took longer than the time limit") from None
        return _Run(code, out, err)
    finally:
        _kill(proc)
        if timings is not None:
            timings[argv[0]] = timings.get(argv[0], 0.0) + time.perf_counter() - started


def _exchange(
    proc: subprocess.Popen[bytes], stdin: bytes, deadline: float, max_output: int, what: str
) -> tuple[bytes, bytes]:
    """Write stdin and read stdout and stderr together (no pipe fills up and blocks)."""
    assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
    out = bytearray()
    err = bytearray()
    view = memoryview(stdin)
    sent = 0
    with selectors.DefaultSelector() as selector:
        for pipe in (proc.stdin, proc.stdout, proc.stderr):
            os.set_blocking(pipe.fileno(), False)
        if stdin:
            selector.register(proc.stdin, selectors.EVENT_WRITE)
        else:
            proc.stdin.close()
        selector.register(proc.stdout, selectors.EVENT_READ)
        selector.register(proc.stderr, selectors.EVENT_READ)
        while selector.get_map():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise _Stopped(f"reading {what} took longer than the time limit")
            for key, _ in selector.select(timeout=remaining):
                if key.fileobj is proc.stdin:
                    try:
                        sent += os.write(proc.stdin.fileno(), view[sent : sent + _CHUNK])
                    except BlockingIOError:
                        continue
                    except BrokenPipeError:  # it stopped reading: its exit status says why
                        sent = len(view)
                    if sent >= len(view):
                        selector.unregister(proc.stdin)
                        proc.stdin.close()
                    continue
                try:
                    chunk = os.read(key.fd, _CHUNK)
                except BlockingIOError:
                    continue
                if not chunk:
                    selector.unregister(key.fileobj)
                    continue
                if key.fileobj is proc.stdout:
                    out += chunk
                    if len(out) > max_output:
                        raise _Stopped(f"{what} is larger than {max_output // (1 << 20)} MiB")
                elif len(err) < _MAX_STDERR:
                    err += chunk[: _MAX_STDERR - len(err)]
    return bytes(out), bytes(err)


def _kill(proc: subprocess.Popen[bytes]) -> None:
    """Kill the program's whole group, reap it and close its pipes: nothing is left."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    for pipe in (proc.stdin, proc.stdout, proc.stderr):
        if pipe is not None and not pipe.closed:
            pipe.close()
