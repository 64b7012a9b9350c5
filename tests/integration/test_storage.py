"""S3 access through boto3 against the moto server over HTTP."""

import hashlib
import uuid
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import pytest
from botocore.exceptions import ClientError

from docproc import storage
from docproc.errors import ObjectMissing, Superseded, is_transient
from docproc.models import FetchedObject, ListedObject, ObjectRef
from tests.support.faultproxy import FaultProxy


@pytest.fixture
def bucket(moto_endpoint: str) -> str:
    name = f"b-{uuid.uuid4().hex[:8]}"
    storage.s3_client().create_bucket(Bucket=name)
    return name


def test_client_takes_the_endpoint_from_aws_endpoint_url(moto_endpoint: str) -> None:
    assert storage.s3_client().meta.endpoint_url == moto_endpoint


def test_fetch_reads_body_etag_and_digest(bucket: str) -> None:
    s3 = storage.s3_client()
    etag = s3.put_object(Bucket=bucket, Key="in/a b+c.txt", Body=b"hello")["ETag"].strip('"')
    got = storage.fetch(s3, ObjectRef(bucket, "in/a b+c.txt"), max_bytes=100)
    assert got.body == b"hello"
    assert got.size == 5
    assert got.ref == ObjectRef(bucket, "in/a b+c.txt", etag)
    assert got.sha256 == hashlib.sha256(b"hello").hexdigest()


def test_too_large_is_known_without_the_body(bucket: str) -> None:
    s3 = storage.s3_client()
    s3.put_object(Bucket=bucket, Key="big", Body=b"x" * 2000)
    got = storage.fetch(s3, ObjectRef(bucket, "big"), max_bytes=1999)
    assert (got.size, got.body, got.sha256) == (2000, None, None)


def test_a_named_version_that_was_overwritten_is_superseded(bucket: str) -> None:
    s3 = storage.s3_client()
    old = s3.put_object(Bucket=bucket, Key="k", Body=b"v1")["ETag"].strip('"')
    s3.put_object(Bucket=bucket, Key="k", Body=b"v2")
    with pytest.raises(Superseded):
        storage.fetch(s3, ObjectRef(bucket, "k", old), max_bytes=100)


def test_missing_object_and_bucket_are_named(bucket: str) -> None:
    s3 = storage.s3_client()
    with pytest.raises(ObjectMissing, match="does not exist"):
        storage.fetch(s3, ObjectRef(bucket, "nope"), max_bytes=100)
    with pytest.raises(ObjectMissing, match=f"s3://{bucket}/nope does not exist"):
        storage.require(s3, bucket, "nope")
    with pytest.raises(ObjectMissing, match="bucket s3://no-such-bucket-x does not exist"):
        storage.require(s3, "no-such-bucket-x", "k")
    with pytest.raises(ObjectMissing, match="target bucket"):
        storage.put(s3, "no-such-bucket-x", "k", b"", "text/plain")


@pytest.mark.parametrize(
    "request_",
    [
        lambda s3, name: s3.head_bucket(Bucket=name),  # a HEAD: only the status, 404
        lambda s3, name: s3.list_objects_v2(Bucket=name),  # NoSuchBucket
        lambda s3, name: s3.put_object(Bucket=name, Key="k", Body=b""),  # NoSuchBucket
    ],
    ids=["head", "list", "put"],
)
def test_every_answer_for_a_missing_bucket_is_named_one_way(
    moto_endpoint: str, request_: Callable[[Any, str], object]
) -> None:
    s3 = storage.s3_client()
    with (
        pytest.raises(ObjectMissing, match=r"^target bucket s3://no-such-bucket-y does not exist$"),
        storage.bucket_required("no-such-bucket-y", "target bucket"),
    ):
        request_(s3, "no-such-bucket-y")


def test_a_missing_key_or_another_error_is_not_a_missing_bucket(bucket: str) -> None:
    s3 = storage.s3_client()
    with pytest.raises(ClientError, match="NoSuchKey"), storage.bucket_required(bucket):
        s3.get_object(Bucket=bucket, Key="nope")
    with pytest.raises(ClientError, match="BucketNotEmpty"), storage.bucket_required(bucket):
        s3.put_object(Bucket=bucket, Key="k", Body=b"")
        s3.delete_bucket(Bucket=bucket)


def test_a_listing_names_a_missing_bucket(moto_endpoint: str) -> None:
    with pytest.raises(ObjectMissing, match=r"^bucket s3://no-such-bucket-z does not exist$"):
        next(storage.iter_pages(storage.s3_client(), "no-such-bucket-z", ""))


def test_put_and_exists(bucket: str) -> None:
    s3 = storage.s3_client()
    assert not storage.exists(s3, bucket, "out/x.csv")
    storage.put(s3, bucket, "out/x.csv", b"a,b\r\n", "text/csv")
    assert storage.exists(s3, bucket, "out/x.csv")
    assert s3.get_object(Bucket=bucket, Key="out/x.csv")["ContentType"] == "text/csv"


@pytest.mark.parametrize(
    ("uri", "expected"),
    [("s3://b/k", ("b", "k")), ("s3://b/in/a b.txt", ("b", "in/a b.txt")), ("s3://b", ("b", ""))],
)
def test_parse_s3_uri(uri: str, expected: tuple[str, str]) -> None:
    assert storage.parse_s3_uri(uri) == expected


@pytest.mark.parametrize("uri", ["b/k", "http://b/k", "s3:///k", ""])
def test_parse_s3_uri_refuses(uri: str) -> None:
    with pytest.raises(ValueError, match="S3 URI"):
        storage.parse_s3_uri(uri)


def test_iter_pages_streams_every_object_in_pages_of_the_asked_size(bucket: str) -> None:
    s3 = storage.s3_client()
    for i in range(25):
        s3.put_object(Bucket=bucket, Key=f"in/{i:02d} ü+x.txt", Body=b"x" * i)
    s3.put_object(Bucket=bucket, Key="other/a.txt", Body=b"")
    pages = list(storage.iter_pages(s3, bucket, "in/", page_size=10))
    assert [len(p) for p in pages] == [10, 10, 5]
    listed = [o for page in pages for o in page]
    assert [o.ref.key for o in listed] == [f"in/{i:02d} ü+x.txt" for i in range(25)]
    assert [o.size for o in listed] == list(range(25))
    assert all(o.ref.etag and '"' not in o.ref.etag for o in listed)


def test_fetch_many_keeps_order_and_reports_vanished_objects(bucket: str) -> None:
    s3 = storage.s3_client()
    for name in ("a", "b"):
        s3.put_object(Bucket=bucket, Key=name, Body=name.encode())
    listed = [o for page in storage.iter_pages(s3, bucket, "") for o in page]
    s3.delete_object(Bucket=bucket, Key="a")
    results = storage.fetch_many(s3, [*listed, ListedObject(ObjectRef(bucket, "big"), 10**9)], 100)
    assert isinstance(results[0][0], ObjectMissing)
    assert results[1][0].body == b"b"  # type: ignore[union-attr]
    assert results[2][0].body is None  # too large: not fetched at all


def test_fetch_many_retries_a_cut_get_for_that_object_alone(bucket: str) -> None:
    """boto3 does not retry a body cut while it is read; one such GET among a batch's
    hundreds would fail the whole batch on every attempt of a flapping network."""
    s3 = storage.s3_client()
    for key in ("a", "b", "c"):
        s3.put_object(Bucket=bucket, Key=key, Body=key.encode() * 100)
    endpoint = urlsplit(s3.meta.endpoint_url)
    with FaultProxy(endpoint.hostname or "127.0.0.1", endpoint.port or 80) as proxy:
        faulty = storage.s3_client(endpoint_url=f"http://127.0.0.1:{proxy.port}", max_attempts=1)
        listed = [ListedObject(ObjectRef(bucket, key), 300) for key in ("a", "b", "c")]
        proxy.drop_when(f"GET /{bucket}/b".encode(), times=len(storage.OBJECT_WAITS))
        results = storage.fetch_many(faulty, listed, 1000)
        assert proxy.dropped == len(storage.OBJECT_WAITS)
        bodies = [r.body for r, _ in results if isinstance(r, FetchedObject)]
        assert bodies == [b"a" * 100, b"b" * 100, b"c" * 100]

        proxy.drop_when(f"GET /{bucket}/b".encode(), times=len(storage.OBJECT_WAITS) + 1)
        with pytest.raises(Exception) as lasting:
            storage.fetch_many(faulty, listed, 1000)
        assert is_transient(lasting.value)
