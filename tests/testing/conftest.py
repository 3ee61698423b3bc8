"""Fixtures for the FakeSora and SoraTransport spec checks (helpers in ``sora_openapi``), and
a throwaway certificate authority for fakes served over TLS."""

from __future__ import annotations

import ssl
from pathlib import Path

import pytest
import trustme

from testing.sora_openapi import OpenApi, load_openapi


@pytest.fixture(scope="session")
def openapi() -> OpenApi:
    """The spec with the documented later additions accepted explicitly."""
    return load_openapi()


@pytest.fixture(scope="session")
def strict_openapi() -> OpenApi:
    """The spec exactly as published, without the documented later additions."""
    return load_openapi(extended=False)


@pytest.fixture(scope="session")
def tls_ca() -> trustme.CA:
    """A throwaway certificate authority (for fakes served over TLS on loopback)."""
    return trustme.CA()


@pytest.fixture(scope="session")
def tls_server_context(tls_ca: trustme.CA) -> ssl.SSLContext:
    """A server context with a certificate for 127.0.0.1 and localhost, signed by ``tls_ca``."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls_ca.issue_cert("127.0.0.1", "localhost").configure_cert(context)
    return context


@pytest.fixture
def tls_ca_file(tls_ca: trustme.CA, tmp_path: Path) -> Path:
    """The CA's certificate as a PEM file (what ``SSL_CERT_FILE`` names)."""
    path = tmp_path / "ca.pem"
    tls_ca.cert_pem.write_to_path(str(path))
    return path
