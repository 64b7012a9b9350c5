"""The loader's tables, empty, on the session's MariaDB and on SQLite (the demo's database)."""

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from docproc import loader, schema
from tests.support.pipeline import clear_tables


@pytest.fixture(params=["mariadb", "sqlite"])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """On SQLite in folders that do not exist yet: `make_engine` creates them."""
    if request.param == "mariadb":
        eng = request.getfixturevalue("mysql_engine")
        clear_tables(eng)
        yield eng
    else:
        eng = loader.make_engine(f"sqlite:///{tmp_path}/nested/dir/docproc.db")
        schema.create_all(eng)
        yield eng
        eng.dispose()
