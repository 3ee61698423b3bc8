"""Durability end to end: a program killed with SIGKILL during a batch, started again,
finishes the batch with zero duplicate creates (tests/engine/durable_child.py, real processes)."""

from __future__ import annotations

from pathlib import Path

import pytest

from helpers import DURABLE_CHILD_API_KEY, sigkill_then_resume
from soravideo.testing import FakeSora


@pytest.fixture
def fake() -> FakeSora:
    # The child sends its own key; generations long enough to kill it mid-batch.
    return FakeSora(api_key=DURABLE_CHILD_API_KEY, generation_time=0.3)


def test_batch_killed_with_sigkill_then_restarted_finishes_with_no_duplicate(
    fake: FakeSora, base_url: str, ledger_path: Path
) -> None:
    sigkill_then_resume(fake, base_url, ledger_path, "batch", 8)
