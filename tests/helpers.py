"""Small shared helpers for the test suite: request factories and fake-server assertions."""

from __future__ import annotations

from typing import Any

import soravideo as sv
from soravideo.testing._fake_sora import FakeSora


def request(prompt: str = "a red fox in the snow", **fields: Any) -> sv.CreateVideoRequest:
    """Return a valid request; any field may be overridden."""
    return sv.CreateVideoRequest(prompt=prompt, **fields)


def requests(n: int, prefix: str = "video", **fields: Any) -> list[sv.CreateVideoRequest]:
    """Return ``n`` valid requests with distinct prompts."""
    return [request(f"{prefix} {i}", **fields) for i in range(n)]


def assert_created_once(fake: FakeSora, expected: int) -> None:
    """Assert the fake created exactly ``expected`` videos, none of them twice."""
    assert fake.created_count() == expected, f"created {fake.created_count()}, expected {expected}"
