"""The `report` flow on a started Prefect server and MariaDB: the month before the run's
date, left as two table artifacts (SPEC 12)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta

import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId
from sqlalchemy import Engine

from docproc import loader, reports
from docproc.models import DocumentType
from flows.report import report
from tests.support.pipeline import clear_tables
from tests.support.reports import einvoice, fetched, vat_entry

pytestmark = pytest.mark.usefixtures("prefect_api")


@pytest.fixture
def database(
    mysql_url: str, mysql_engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Engine]:
    from tasks import resources

    clear_tables(mysql_engine)
    monkeypatch.setenv("DOCPROC_DATABASE_URL", mysql_url)
    resources.reset()
    yield mysql_engine
    resources.reset()


def test_the_monthly_run_leaves_the_month_before_as_two_tables(database: Engine) -> None:
    state = report(return_state=True)
    assert state.is_completed(), state.message
    assert state.result() == {"vat": 0, "spend": 0}  # nothing loaded: empty tables
    with get_client(sync_client=True) as client:
        run = client.read_flow_run(state.state_details.flow_run_id)
    # The month before the run's date, whatever today is: rows loaded, then run again.
    assert run.expected_start_time is not None
    start, end = reports.month_before(run.expected_start_time.date())
    s19 = vat_entry("S", "19", "100.00", "19.00")
    s7 = vat_entry("S", "7", "1.00", "0.07")
    invoices = [
        einvoice("DE111", "in-1", start, "EUR", s19),
        einvoice("DE111", "in-2", end, "EUR", vat_entry("S", "19", "40.00", "7.60")),
        einvoice(
            "DE111",
            "cn-1",
            end,
            "EUR",
            vat_entry("S", "19", "10.00", "1.90"),
            document_type=DocumentType.CREDIT_NOTE,
        ),
        # The days either side: not reported.
        einvoice("DE111", "early", start - timedelta(days=1), "EUR", s7),
        einvoice("DE111", "late", end + timedelta(days=1), "EUR", s7),
    ]
    loader.record(database, [(inv, fetched(inv)) for inv in invoices])

    state = report(return_state=True)
    assert state.is_completed(), state.message
    assert state.result() == {"vat": 1, "spend": 1}
    with get_client(sync_client=True) as client:
        artifacts = client.read_artifacts(
            artifact_filter=ArtifactFilter(
                flow_run_id=ArtifactFilterFlowRunId(any_=[state.state_details.flow_run_id])
            )
        )
    tables = {a.key: a for a in artifacts}
    assert set(tables) == {"report-vat", "report-spend"}
    assert all(a.type == "table" for a in artifacts)
    period = f"{start:%Y-%m}"
    assert json.loads(str(tables["report-vat"].data)) == [
        {
            "period": period,
            "currency": "EUR",
            "category": "S",
            "rate": "19",
            "taxable_amount": "130.00",
            "tax_amount": "24.70",
            "invoices": "3",
        }
    ]
    assert json.loads(str(tables["report-spend"].data)) == [
        {
            "period": period,
            "issuer_key": "DE111",
            "seller": "Acme GmbH",
            "currency": "EUR",
            "invoices": "3",
            "total": "154.70",
        }
    ]
    assert f"**VAT {period}**" in str(tables["report-vat"].description)
    assert f"dated {start} to {end}" in str(tables["report-spend"].description)
