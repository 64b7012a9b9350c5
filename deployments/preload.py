"""What the forkserver of `serve` imports and warms once, so that no served run pays for it.

Each line is something a run would otherwise load in its own process (see forkserver.py).
Importing this module opens no connection and starts no thread: it is forked afterwards.
"""

import fastapi.encoders  # noqa: F401 (Prefect encodes a run's parameters with it)
import prefect.flow_engine  # noqa: F401
import pymysql  # noqa: F401
import sqlalchemy.dialects.mysql.pymysql  # noqa: F401

import flows.backfill
import flows.process_batch
import flows.process_invoice  # noqa: F401
from docproc import storage

storage.warm_up()
