"""The one way docproc talks to S3: boto3 with its own endpoint, retry and pool settings."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import boto3
from botocore.exceptions import ClientError

from docproc import aws
from docproc.aws import error_code
from docproc.batching import chunks
from docproc.errors import ObjectMissing, Superseded, retried
from docproc.models import FetchedObject, ListedObject, ObjectRef
from docproc.settings import DEFAULT_S3_CONCURRENCY, DEFAULT_S3_MAX_ATTEMPTS

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
else:
    S3Client = Any

# What S3 answers for a bucket that is not there: a listing or a PUT names it, a HEAD
# (no body to name it in) only has its status.
MISSING_BUCKET = frozenset({"NoSuchBucket", "404", "NotFound"})


def s3_client(
    session: boto3.session.Session | None = None,
    *,
    client_params: Mapping[str, Any] | None = None,
    endpoint_url: str | None = None,
    max_attempts: int = DEFAULT_S3_MAX_ATTEMPTS,
    max_pool_connections: int = DEFAULT_S3_CONCURRENCY,
) -> S3Client:
    """An S3 client; with no endpoint given, boto3 reads `AWS_ENDPOINT_URL` itself.

    `session` and `client_params` carry credentials, region and endpoint, e.g. from a
    prefect-aws `AwsCredentials` block; boto3's default chain applies without them.
    """
    client: S3Client = aws.client(
        "s3",
        session,
        client_params=client_params,
        endpoint_url=endpoint_url,
        max_attempts=max_attempts,
        max_pool_connections=max_pool_connections,
    )
    return client


def warm_up() -> None:
    """Parse S3's service model into the shared loader now; no credentials, no request."""
    session = boto3.session.Session(
        aws_access_key_id="warm-up",
        aws_secret_access_key="warm-up",  # noqa: S106 (no request is ever signed with it)
        region_name="us-east-1",
    )
    s3_client(session)


def parse_s3_uri(uri: str) -> tuple[str, str]:
    """`s3://bucket/key` -> (bucket, key); ValueError with a message fit for a user."""
    if not uri.startswith("s3://"):
        raise ValueError(f"not an S3 URI (expected s3://bucket/key): {uri!r}")
    bucket, _, key = uri[len("s3://") :].partition("/")
    if not bucket:
        raise ValueError(f"no bucket in S3 URI: {uri!r}")
    return bucket, key


@contextmanager
def bucket_required(bucket: str, what: str = "bucket") -> Iterator[None]:
    """S3's answer that `bucket` is missing, inside, becomes `ObjectMissing` saying so in
    words a user reads (`what` names its role: "target bucket"); other errors pass."""
    try:
        yield
    except ClientError as exc:
        if error_code(exc) in MISSING_BUCKET:
            raise ObjectMissing(f"{what} s3://{bucket} does not exist") from None
        raise


def fetch(client: S3Client, ref: ObjectRef, max_bytes: int) -> FetchedObject:
    """Read one object; too large ones are not downloaded (the size arrives with the headers).

    With `ref.etag` set, only that version is read: a newer one raises `Superseded`.
    """
    kwargs: dict[str, Any] = {"Bucket": ref.bucket, "Key": ref.key}
    if ref.etag:
        kwargs["IfMatch"] = f'"{ref.etag}"'
    try:
        response = client.get_object(**kwargs)
    except ClientError as exc:
        if aws.is_missing(exc):
            raise ObjectMissing(f"{ref.uri} does not exist ({error_code(exc)})") from None
        if error_code(exc) in {"PreconditionFailed", "412"}:
            raise Superseded(f"{ref.uri} no longer has ETag {ref.etag}") from None
        raise
    body = response["Body"]
    size = int(response["ContentLength"])
    current = ObjectRef(ref.bucket, ref.key, response["ETag"].strip('"'))
    if size > max_bytes:
        body.close()
        return FetchedObject(current, size, None, None)
    data = body.read()
    return FetchedObject(current, size, data, hashlib.sha256(data).hexdigest())


def put(client: S3Client, bucket: str, key: str, data: bytes, content_type: str) -> None:
    """Write one output object; writing the same bytes again is harmless, which retries rely on."""
    with bucket_required(bucket, "target bucket"):
        client.put_object(Bucket=bucket, Key=key, Body=data, ContentType=content_type)


def exists(client: S3Client, bucket: str, key: str) -> bool:
    try:
        client.head_object(Bucket=bucket, Key=key)
    except ClientError as exc:
        if aws.is_missing(exc):
            return False
        raise
    return True


def require(client: S3Client, bucket: str, key: str) -> None:
    """Raise `ObjectMissing` naming what is missing: the bucket or the key."""
    if exists(client, bucket, key):
        return
    with bucket_required(bucket):
        client.head_bucket(Bucket=bucket)
    raise ObjectMissing(f"s3://{bucket}/{key} does not exist")


def iter_pages(
    client: S3Client, bucket: str, prefix: str, page_size: int = 1000
) -> Iterator[list[ListedObject]]:
    """The objects under a prefix, `page_size` at a time: memory stays flat on any prefix size.

    S3 is always asked for its largest page (1,000 keys): a listing request costs about
    as much as a GET, whatever the page size.
    """
    paginator = client.get_paginator("list_objects_v2")
    with bucket_required(bucket):
        for page in paginator.paginate(Bucket=bucket, Prefix=prefix):
            listed = [
                ListedObject(ObjectRef(bucket, o["Key"], o["ETag"].strip('"')), int(o["Size"]))
                for o in page.get("Contents", [])
            ]
            yield from chunks(listed, page_size)


Fetched = FetchedObject | ObjectMissing | Superseded


# Waits before a batch's GET of one object is tried again after a transient fault.
OBJECT_WAITS = (0.1, 0.5, 1.0, 2.0)


def fetch_many(
    client: S3Client,
    objects: Sequence[ListedObject],
    max_bytes: int,
    workers: int = DEFAULT_S3_CONCURRENCY,
) -> list[tuple[Fetched, float]]:
    """Fetch concurrently, each with its duration in seconds.

    What vanished or changed since the listing is returned, not raised. A transient
    error is retried for that object alone (`OBJECT_WAITS`): boto3 does not retry a body
    cut off while it is read, and among a batch's hundreds of GETs on a flapping network
    one such cut would otherwise fail the whole batch on every attempt. Any other error,
    or one that lasts, is raised once all fetches have ended, so that the caller's retry
    starts from a quiet pool.
    """

    def one(obj: ListedObject) -> tuple[Fetched, float]:
        started = time.perf_counter()
        if obj.size > max_bytes:
            return FetchedObject(obj.ref, obj.size, None, None), 0.0
        try:
            result: Fetched = retried(lambda: fetch(client, obj.ref, max_bytes), OBJECT_WAITS)
        except (ObjectMissing, Superseded) as exc:
            result = exc
        return result, time.perf_counter() - started

    with ThreadPoolExecutor(max_workers=max(1, min(workers, len(objects)))) as pool:
        return list(pool.map(one, objects))


def put_many(
    client: S3Client,
    items: Sequence[tuple[str, str, bytes, str]],
    workers: int = DEFAULT_S3_CONCURRENCY,
) -> None:
    """Write (bucket, key, body, content type) outputs concurrently; all or an exception."""
    if not items:
        return
    with ThreadPoolExecutor(max_workers=max(1, min(workers, len(items)))) as pool:
        for _ in pool.map(lambda item: put(client, *item), items):
            pass
