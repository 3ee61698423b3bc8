"""Fixtures for the FakeSora and SoraTransport spec checks (helpers in ``sora_openapi``)."""

from __future__ import annotations

import pytest

from testing.sora_openapi import OpenApi, load_openapi


@pytest.fixture(scope="session")
def openapi() -> OpenApi:
    """The spec with the documented later additions accepted explicitly."""
    return load_openapi()


@pytest.fixture(scope="session")
def strict_openapi() -> OpenApi:
    """The spec exactly as published, without the documented later additions."""
    return load_openapi(extended=False)
