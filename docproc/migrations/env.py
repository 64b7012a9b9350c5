"""Alembic's entry point: migrations run on the connection `docproc.migrations` hands over.

There is no alembic.ini: `docproc.migrations.config` builds the configuration in code.
"""

from __future__ import annotations

from alembic import context

connection = context.config.attributes["connection"]
# Batch mode: SQLite can only change a table by copying it, and Alembic does that for us.
context.configure(connection=connection, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
