"""soravideo's exported contract suites, run on the plugins of ``examples/``.

This is how a plugin author checks a ledger or a transport: subclass the suite, give it
fixtures. The docs' plugin guide shows this file.
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from types import ModuleType

import pytest

import soravideo as sv
from soravideo.repositories import JobRepository
from soravideo.testing import RepositoryContract, TransportContract

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def load_example(name: str) -> ModuleType:
    """Import ``examples/<name>.py`` as a module (examples are scripts, not a package)."""
    spec = importlib.util.spec_from_file_location(f"examples_{name}", EXAMPLES / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


custom_repository = load_example("custom_repository")
custom_transport = load_example("custom_transport")


# --8<-- [start:contracts]
class TestJSONFileRepository(RepositoryContract):
    @pytest.fixture
    async def repository(self, tmp_path: Path) -> AsyncIterator[JobRepository]:
        repository = custom_repository.JSONFileRepository(tmp_path / "ledger.json")
        await repository.open()
        yield repository
        await repository.aclose()


class TestAcmeTransport(TransportContract):
    @pytest.fixture
    def fake(self) -> custom_transport.AcmeFake:
        return custom_transport.AcmeFake(sv.ManualClock())

    @pytest.fixture
    async def transport(
        self, fake: custom_transport.AcmeFake
    ) -> AsyncIterator[custom_transport.AcmeTransport]:
        transport = custom_transport.AcmeTransport(http_client=fake.http_client())
        yield transport
        await transport.aclose()


# --8<-- [end:contracts]
