"""Where a test's documents go in and come out: buckets, the session's database, its tables."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import delete
from sqlalchemy.engine import Engine

from docproc import schema

TEST_DB_URL = os.environ.get(
    "DOCPROC_TEST_DATABASE_URL", "mysql+pymysql://root@127.0.0.1:3306/test"
)


def clear_tables(engine: Engine) -> None:
    with engine.begin() as conn:
        for table in reversed(schema.metadata.sorted_tables):
            conn.execute(delete(table))


@dataclass
class Pipeline:
    """Where one test's documents go in and come out."""

    source: str
    target: str
    s3: Any
    engine: Engine

    def upload(self, key: str, body: bytes) -> str:
        response = self.s3.put_object(Bucket=self.source, Key=key, Body=body)
        return str(response["ETag"]).strip('"')

    def target_keys(self) -> list[str]:
        listing = self.s3.list_objects_v2(Bucket=self.target)
        return sorted(obj["Key"] for obj in listing.get("Contents", []))

    def read_target(self, key: str) -> bytes:
        data: bytes = self.s3.get_object(Bucket=self.target, Key=key)["Body"].read()
        return data

    def empty_target(self) -> None:
        """What earlier tests wrote to the target bucket, gone (for a bucket shared by them)."""
        for key in self.target_keys():
            self.s3.delete_object(Bucket=self.target, Key=key)


def new_pipeline(engine: Engine) -> Pipeline:
    """A source and a target bucket of their own, on the emulator the environment names."""
    from docproc import storage

    suffix = uuid.uuid4().hex[:8]
    source, target = f"src-{suffix}", f"dst-{suffix}"
    client = storage.s3_client()
    for bucket in (source, target):
        client.create_bucket(Bucket=bucket)
    return Pipeline(source, target, client, engine)


@contextmanager
def pointed_at(
    pipeline: Pipeline, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Pipeline]:
    """Empty tables, with the DOCPROC_* settings and the tasks' clients pointing at them."""
    from tasks import resources

    clear_tables(pipeline.engine)
    monkeypatch.setenv("DOCPROC_DATABASE_URL", database_url)
    monkeypatch.setenv("DOCPROC_SOURCE_BUCKET", pipeline.source)
    monkeypatch.setenv("DOCPROC_TARGET_BUCKET", pipeline.target)
    resources.reset()
    try:
        yield pipeline
    finally:
        resources.reset()


@dataclass
class Served:
    """`docproc serve` answering at `url`, subscribed to `topic_arn`, on `pipeline`;
    what it prints goes to `log`."""

    url: str
    topic_arn: str
    pipeline: Pipeline
    log: Path
