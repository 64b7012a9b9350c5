"""A run is renamed only when its name changes (flows/naming.py)."""

from __future__ import annotations

from typing import Any

import pytest
from prefect import flow
from prefect.client.orchestration import SyncPrefectClient, get_client

from flows.naming import name_run

pytestmark = pytest.mark.usefixtures("prefect_api")


@flow(name="naming-probe", flow_run_name="s3://bucket/in/a.txt")
def named_probe() -> None:
    name_run("s3://bucket/in/a.txt")  # its name already: as the webhook names a lone upload's
    name_run("inv-1 from s3://bucket/in/a.txt")
    name_run("inv-1 from s3://bucket/in/a.txt")
    name_run("s3://bucket/in/a.txt")  # back to the first: a change again


def test_a_run_is_renamed_once_per_change_of_name(monkeypatch: pytest.MonkeyPatch) -> None:
    renames: list[str] = []
    update = SyncPrefectClient.update_flow_run

    def recorded(self: SyncPrefectClient, flow_run_id: Any, **kwargs: Any) -> Any:
        if "name" in kwargs:
            renames.append(kwargs["name"])
        return update(self, flow_run_id, **kwargs)

    monkeypatch.setattr(SyncPrefectClient, "update_flow_run", recorded)
    state = named_probe(return_state=True)
    assert state.is_completed()
    assert renames == ["inv-1 from s3://bucket/in/a.txt", "s3://bucket/in/a.txt"]
    run_id = state.state_details.flow_run_id
    assert run_id is not None
    with get_client(sync_client=True) as client:
        run = client.read_flow_run(run_id)
    assert run.name == "s3://bucket/in/a.txt"
