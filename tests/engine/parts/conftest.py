"""Fixtures of the engine's parts' own tests: a ``kit`` (``tests/engine_kit.py``) holds
the shared state and the parts a test needs, wired as the runner wires them but with no
loop running. Every test ends with the ledger checked against the fake."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from engine_kit import Kit, built


@pytest.fixture
async def kit() -> AsyncIterator[Kit]:
    async with built() as kit:
        yield kit
