"""The definitions agree: prefect.yaml, the flows it names, the event the webhook sends."""

from __future__ import annotations

import importlib
import inspect

import pytest
from jinja2 import Template

from deployments.definitions import declared, served_flows, triggers
from deployments.local_server import (
    DATABASE_VARIABLE,
    LEGACY_DATABASE_VARIABLE,
    check_database,
    configured_database,
    describe_database,
    server_env,
)
from docproc import events
from docproc.models import ObjectRef


def entrypoint(name: str) -> object:
    path, _, attr = declared()[name]["entrypoint"].partition(":")
    module = importlib.import_module(path.removesuffix(".py").replace("/", "."))
    return getattr(module, attr)


@pytest.mark.parametrize(
    "name",
    ["process-invoice", "backfill-prefix", "backfill-batch", "reconcile", "report", "review"],
)
def test_every_declared_deployment_imports_and_names_its_flow(name: str) -> None:
    flow = entrypoint(name)
    assert flow.name == name  # type: ignore[attr-defined]
    declared_parameters = set(declared()[name].get("parameters", {}))
    assert declared_parameters <= set(inspect.signature(flow.fn).parameters)  # type: ignore[attr-defined]


def test_spec_flow_parameters() -> None:
    assert {"bucket", "key", "etag"} <= set(
        inspect.signature(entrypoint("process-invoice").fn).parameters  # type: ignore[attr-defined]
    )
    assert {"bucket", "prefix", "force"} <= set(
        inspect.signature(entrypoint("backfill-prefix").fn).parameters  # type: ignore[attr-defined]
    )


def test_the_trigger_expects_the_webhook_event_and_fills_the_flow_parameters() -> None:
    (trigger,) = triggers("process-invoice")
    assert trigger.expect == {events.OBJECT_CREATED}
    assert trigger.parameters == events.TRIGGER_PARAMETERS
    flow_parameters = inspect.signature(entrypoint("process-invoice").fn).parameters  # type: ignore[attr-defined]
    assert set(trigger.parameters) <= set(flow_parameters)

    event = events.object_created(ObjectRef("src", "in/a b+c ü.txt", "abc"))
    resource_id = event["resource"]["prefect.resource.id"]
    pattern = trigger.match.root["prefect.resource.id"]
    assert isinstance(pattern, str) and resource_id.startswith(pattern.rstrip("*"))
    rendered = {k: Template(v).render(event=event) for k, v in trigger.parameters.items()}
    assert rendered == {"bucket": "src", "key": "in/a b+c ü.txt", "etag": "abc"}


def test_reconcile_runs_every_15_minutes_on_the_source_bucket() -> None:
    from datetime import timedelta

    from deployments.definitions import schedules

    (schedule,) = schedules("reconcile")
    assert schedule.interval == timedelta(minutes=15)
    # No `bucket` parameter: the flow falls back to DOCPROC_SOURCE_BUCKET.
    assert "bucket" not in declared()["reconcile"]["parameters"]
    assert inspect.signature(entrypoint("reconcile").fn).parameters["bucket"].default is None  # type: ignore[attr-defined]
    assert events.INGESTION_LAGGING == "docproc.ingestion.lagging"


def test_report_runs_on_the_first_of_each_month_for_the_month_before() -> None:
    import asyncio
    from datetime import UTC, date, datetime

    from prefect.server.schemas.schedules import CronSchedule

    from docproc.reports import month_before

    (spec,) = declared()["report"]["schedules"]
    runs = asyncio.run(CronSchedule(**spec).get_dates(3, datetime(2026, 12, 15, tzinfo=UTC)))
    assert [run.date() for run in runs] == [date(2027, 1, 1), date(2027, 2, 1), date(2027, 3, 1)]
    assert month_before(runs[0].date()) == (date(2026, 12, 1), date(2026, 12, 31))
    # No `month` parameter: the flow reports the month before its run's date.
    assert inspect.signature(entrypoint("report").fn).parameters["month"].default is None  # type: ignore[attr-defined]
    assert "month" not in declared()["report"].get("parameters", {})


def test_event_ids_are_deterministic_per_object_version() -> None:
    a = events.object_created(ObjectRef("b", "k", "e1"))
    again = events.object_created(ObjectRef("b", "k", "e1"))
    other = events.object_created(ObjectRef("b", "k", "e2"))
    assert a["id"] == again["id"] != other["id"]


def test_served_flows_are_the_declared_deployments_with_their_triggers() -> None:
    served = {options["name"]: (flow, options) for flow, options in served_flows()}
    assert set(served) == set(declared())
    for name, (flow, options) in served.items():
        assert flow.name == name
        assert len(options["triggers"]) == len(declared()[name].get("triggers", []))
        assert len(options["schedules"]) == len(declared()[name].get("schedules", []))


class TestLocalServerEnvironment:
    API = "http://127.0.0.1:4321/api"

    def test_the_ui_is_told_its_own_api_and_the_server_calls_no_other(self) -> None:
        env = server_env({"PREFECT_API_URL": "http://elsewhere/api"}, self.API, 4321)
        assert env["PREFECT_UI_API_URL"] == self.API
        assert env["PREFECT_SERVER_API_PORT"] == "4321"
        assert "PREFECT_API_URL" not in env

    @pytest.mark.parametrize(
        ("environ", "database_url", "expected"),
        [
            ({}, None, None),  # SQLite in PREFECT_HOME
            ({DATABASE_VARIABLE: "postgresql+asyncpg://db/a"}, None, "postgresql+asyncpg://db/a"),
            ({DATABASE_VARIABLE: "postgresql+asyncpg://db/a"}, "sqlite:///b", "sqlite:///b"),
            ({LEGACY_DATABASE_VARIABLE: "postgresql+asyncpg://db/a"}, "sqlite:///b", "sqlite:///b"),
        ],
    )
    def test_the_database_given_wins_over_the_environment(
        self, environ: dict[str, str], database_url: str | None, expected: str | None
    ) -> None:
        env = server_env(environ, self.API, 4321, database_url=database_url)
        assert configured_database(env) == expected

    @pytest.mark.parametrize(
        "url", ["postgresql://u:s3cret@db/p", "mysql+pymysql://db/p", "not a url", "sqlite:///x.db"]
    )
    def test_a_database_prefect_cannot_use_is_refused_in_one_line(self, url: str) -> None:
        with pytest.raises(ValueError, match="postgresql\\+asyncpg://") as refused:
            check_database(url)
        assert "s3cret" not in str(refused.value)
        assert check_database("postgresql+asyncpg://u:pw@db/p") == "postgresql+asyncpg://u:pw@db/p"

    def test_serve_names_the_database_without_its_password(self) -> None:
        assert describe_database(None) == "SQLite"
        described = describe_database("postgresql+asyncpg://prefect:s3cret@db:5432/prefect")
        assert described == "postgresql+asyncpg://prefect:***@db:5432/prefect"
