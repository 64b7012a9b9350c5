"""The forkserver's runs share one verified TLS context per CA file (deployments/forkserver.py)."""

from __future__ import annotations

import os
import shutil
import ssl
from pathlib import Path

import certifi
import pytest

from deployments.forkserver import _SharedVerifiedContexts


def test_a_verified_context_is_made_once_per_ca_file_and_verifies() -> None:
    shared = _SharedVerifiedContexts()
    first = shared.create_default_context(cafile=certifi.where())
    assert shared.create_default_context(cafile=certifi.where()) is first
    assert first.verify_mode == ssl.CERT_REQUIRED
    assert first.check_hostname is True
    assert first.get_ca_certs()  # the bundle is loaded


def test_a_ca_file_that_changes_gets_a_new_context(tmp_path: Path) -> None:
    """A rotated CA bundle takes effect without a restart of `serve`."""
    bundle = tmp_path / "ca.pem"
    shutil.copy(certifi.where(), bundle)
    shared = _SharedVerifiedContexts()
    before = shared.create_default_context(cafile=str(bundle))
    stat = bundle.stat()
    os.utime(bundle, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    assert shared.create_default_context(cafile=str(bundle)) is not before


def test_any_other_context_is_made_anew_as_ssl_makes_it() -> None:
    """PREFECT_API_TLS_INSECURE_SKIP_VERIFY's context is changed after it is made: never shared."""
    shared = _SharedVerifiedContexts()
    insecure = shared.create_default_context()
    insecure.check_hostname = False
    insecure.verify_mode = ssl.CERT_NONE
    assert shared.create_default_context() is not insecure
    assert shared.create_default_context().verify_mode == ssl.CERT_REQUIRED
    client_side = ssl.Purpose.CLIENT_AUTH
    assert shared.create_default_context(client_side, cafile=certifi.where()) is not (
        shared.create_default_context(client_side, cafile=certifi.where())
    )


def test_everything_else_is_the_ssl_module() -> None:
    shared = _SharedVerifiedContexts()
    assert shared.SSLContext is ssl.SSLContext
    assert shared.CERT_NONE is ssl.CERT_NONE
    with pytest.raises(AttributeError):
        _ = shared.no_such_name


@pytest.mark.parametrize("configured", [True, False], ids=["cert-file-set", "certifi"])
def test_the_context_prefects_clients_will_ask_for_is_made_before_any_run(
    configured: bool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Made in the forkserver, before it forks: PREFECT_API_SSL_CERT_FILE's file (which
    SSL_CERT_FILE sets), or certifi's bundle, as Prefect's client chooses."""
    from prefect.client import orchestration
    from prefect.settings import PREFECT_API_SSL_CERT_FILE, temporary_settings

    from deployments import forkserver

    bundle = tmp_path / "ca.pem"
    shutil.copy(certifi.where(), bundle)
    monkeypatch.setattr(orchestration, "ssl", orchestration.ssl)  # type: ignore[attr-defined]
    with temporary_settings({PREFECT_API_SSL_CERT_FILE: str(bundle) if configured else None}):
        forkserver.share_tls_contexts()
    shared = orchestration.ssl  # type: ignore[attr-defined]
    assert isinstance(shared, _SharedVerifiedContexts)
    assert [key[0] for key in shared._made] == [str(bundle) if configured else certifi.where()]
