"""What the forkserver of `serve` imports and warms once, so that no served run pays for it.

Each line is something a run would otherwise load in its own process (see forkserver.py);
py-spy over a burst's runs shows what is missing here as `_find_and_load` under a run.
Importing this module opens no connection and starts no thread: it is forked afterwards.
"""

import anyio._backends._asyncio  # noqa: F401 (Prefect's run engine starts anyio loops)
import fastapi.encoders  # noqa: F401 (Prefect encodes a run's parameters with it)
import prefect.concurrency.sync  # the writer slot
import prefect.flow_engine
import prefect.utilities.visualization  # noqa: F401
import pymysql  # noqa: F401
import sqlalchemy.dialects.mysql.pymysql  # noqa: F401

import flows.backfill
import flows.process_batch
import flows.process_invoice  # noqa: F401
from deployments import forkserver
from docproc import migrations, storage
from docproc.formats import (
    pdf,  # noqa: F401 (imported by the first PDF a run reads)
    templates,
)

forkserver.share_tls_contexts()  # each Prefect client of a run: 45 ms otherwise
migrations.head()  # Alembic and its revision scripts: each run's first database use checks them
storage.warm_up()
templates.shipped()  # invoice2data's ~220 templates, for a run's first plain PDF (SPEC 2.6)
# Not the official stylesheets (SPEC 3.1): SaxonC compiled here, before the fork, crashed
# the forked runs (SIGSEGV, exit -11, in `docproc demo`); each run's process compiles the
# stylesheet it needs on first use instead (saxonche is not even imported here).
