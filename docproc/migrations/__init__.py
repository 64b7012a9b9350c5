"""Versions of the schema of SPEC section 4, with Alembic, applied by `init-db`.

Revision `v1` is the first release's tables, `v2` the tables of every format. The
configuration is built here, in code: no alembic.ini to find or to keep in step.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, func, inspect, select

HERE = Path(__file__).resolve().parent
V1 = "v1"


@dataclass(frozen=True)
class Upgrade:
    """What `upgrade` did: from which revision (None: no tables) to which, and the rows kept."""

    before: str | None
    after: str
    rows: dict[str, int]

    @property
    def changed(self) -> bool:
        return self.before != self.after


def config(conn: Connection | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(HERE))
    cfg.attributes["connection"] = conn
    return cfg


@lru_cache(maxsize=1)
def head() -> str:
    """The current revision, as this code's tables are."""
    revision = ScriptDirectory.from_config(config()).get_current_head()
    assert revision is not None
    return revision


def current(conn: Connection) -> str | None:
    """The database's revision, `v1` for tables made before migrations, None for no tables."""
    from docproc.schema import has_tables

    revision = MigrationContext.configure(conn).get_current_revision()
    if revision is not None or not has_tables(conn):
        return revision
    found = inspect(conn)
    if not found.has_table("invoices"):
        return head()  # a partial set of current tables: create_all adds the rest
    columns = {c["name"] for c in found.get_columns("invoices")}
    return V1 if "issuer_key" not in columns else head()


def stamp_head(conn: Connection) -> None:
    """Record that the tables are the current ones (they were just created as such)."""
    stamp(conn, "head")


def upgrade(engine: Engine) -> Upgrade:
    """Create the tables, or bring tables of an earlier version to the current one in
    place, rows kept; a database already current is left alone."""
    from docproc import schema

    target = head()
    with engine.begin() as conn:
        before = current(conn)
        if before is None:
            schema.metadata.create_all(conn)
            stamp_head(conn)
        elif before != target:
            if MigrationContext.configure(conn).get_current_revision() is None:
                stamp(conn, before)  # tables older than migrations: say which they are
            command.upgrade(config(conn), "head")
        elif MigrationContext.configure(conn).get_current_revision() is None:
            stamp_head(conn)
        rows = {
            name: conn.execute(select(func.count()).select_from(table)).scalar_one()
            for name, table in schema.metadata.tables.items()
        }
    return Upgrade(before, target, rows)


def stamp(conn: Connection, revision: str) -> None:
    """Record the revision the tables are at, changing nothing else."""
    MigrationContext.configure(conn).stamp(ScriptDirectory.from_config(config(conn)), revision)
