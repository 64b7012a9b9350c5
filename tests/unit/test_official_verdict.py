"""The official rules in the verdict (SPEC 3.1): `report` keeps the findings beside it,
`enforce` rejects a fatal one `rule_violation`, `off` runs nothing; `validate` shows them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from docproc import formats, rules
from docproc.cli import app
from docproc.models import FindingFlag, Invoice, OfficialRules, Reason, Rejection
from docproc.rules import official

DATA = Path(__file__).resolve().parents[1] / "data" / "einvoices"
UBL = DATA / "en16931-ubl" / "ubl-tc434-example2.xml"


@pytest.fixture(scope="module")
def br_cl_13(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A UBL invoice whose item classification names a list outside UNTDID 7143: docproc's
    own rules accept it, the official BR-CL-13 does not."""
    data = UBL.read_bytes()
    old = b'<cbc:ItemClassificationCode listID="STI">65434568'
    assert data.count(old) == 1
    path = tmp_path_factory.mktemp("official") / "br-cl-13.xml"
    path.write_bytes(data.replace(old, b'<cbc:ItemClassificationCode listID="XX">65434568'))
    return path


def test_report_loads_it_with_the_finding(br_cl_13: Path) -> None:
    verdict = rules.judge(formats.read(br_cl_13.read_bytes()), OfficialRules.REPORT)
    assert isinstance(verdict, Invoice)
    assert [(f.rule, f.flag) for f in official.fatal(verdict.findings)] == [
        ("BR-CL-13", FindingFlag.FATAL)
    ]


def test_enforce_rejects_it_rule_violation(br_cl_13: Path) -> None:
    verdict = rules.judge(formats.read(br_cl_13.read_bytes()), OfficialRules.ENFORCE)
    assert isinstance(verdict, Rejection)
    assert verdict.reasons == (Reason.RULE_VIOLATION,)
    assert verdict.details[0].startswith("[BR-CL-13] ")
    assert (verdict.issuer_key, verdict.invoice_id) == ("NO123456789MVA", "TOSL108")
    assert verdict.findings


def test_off_runs_nothing(br_cl_13: Path) -> None:
    verdict = rules.judge(formats.read(br_cl_13.read_bytes()), OfficialRules.OFF)
    assert isinstance(verdict, Invoice) and verdict.findings == ()


def test_a_conformant_sample_has_no_fatal_finding() -> None:
    verdict = rules.judge(formats.read(UBL.read_bytes()), OfficialRules.ENFORCE)
    assert isinstance(verdict, Invoice), verdict
    assert official.fatal(verdict.findings) == ()


def test_validate_json_lists_the_findings_the_stylesheet_gives(br_cl_13: Path) -> None:
    result = CliRunner().invoke(app, ["validate", "--json", str(br_cl_13), str(UBL)])
    assert result.exit_code == 0, result.output
    bad, good = json.loads(result.output)
    expected = official.check(br_cl_13.read_bytes(), formats.read(UBL.read_bytes()).syntax, None)
    assert bad["findings"] == [
        {"rule": f.rule, "flag": str(f.flag), "location": f.location, "message": f.message}
        for f in expected
    ]
    assert [f["rule"] for f in bad["findings"] if f["flag"] == "fatal"] == ["BR-CL-13"]
    assert [f for f in good["findings"] if f["flag"] == "fatal"] == []


def test_validate_under_enforce_rejects(br_cl_13: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from docproc.settings import get_settings

    monkeypatch.setenv("DOCPROC_OFFICIAL_RULES", "enforce")
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(app, ["validate", "--json", str(br_cl_13)])
    finally:
        monkeypatch.delenv("DOCPROC_OFFICIAL_RULES")
        get_settings.cache_clear()
    assert result.exit_code == 1, result.output
    (report,) = json.loads(result.output)
    assert report["reasons"] == ["rule_violation"]


def test_more_lines_than_the_official_rules_run_on_is_a_fatal_finding() -> None:
    """Their time grows faster than the lines: a document beyond the bound is not run (a
    100,000-line document would take hours), and unverified is not conformant."""
    data = UBL.read_bytes()
    first = data.index(b"<cac:InvoiceLine>")
    lines = official.MAX_LINES + 1
    data = data[:first] + b"<cac:InvoiceLine></cac:InvoiceLine>" * lines + data[first:]
    doc = formats.read(data)
    reported = rules.judge(doc, OfficialRules.REPORT)
    (finding,) = reported.findings
    assert (finding.rule, finding.flag) == (official.RULES_ERROR, FindingFlag.FATAL)
    assert f"{lines + 5} lines" in finding.message
    enforced = rules.judge(doc, OfficialRules.ENFORCE)
    assert isinstance(enforced, Rejection) and Reason.RULE_VIOLATION in enforced.reasons
