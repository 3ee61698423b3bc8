"""The parts of a simulated OpenRouter client: FakeOpenRouter in-process, on simulated time."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .._core.clock import VirtualClock
from ._fakeserver import wired_transport

if TYPE_CHECKING:
    from ..transports.openrouter import OpenRouterTransport
    from ._fake_openrouter import FakeOpenRouter

__all__ = ["SIMULATED_OPENROUTER_URL", "simulated_openrouter_parts"]

SIMULATED_OPENROUTER_URL = "http://fakeopenrouter.invalid/api/v1"
_SIMULATED_KEY = "sk-or-v1-simulated"


def simulated_openrouter_parts(
    clock: VirtualClock, *, generation_time: float, seed: int = 0, **knobs: Any
) -> tuple[FakeOpenRouter, OpenRouterTransport]:
    """Return a FakeOpenRouter on ``clock`` and an OpenRouterTransport that reaches it
    without sockets.

    Args:
        clock: The simulated time both run on.
        generation_time: Simulated seconds each video takes.
        seed: Seeds the fake's job ids.
        **knobs: Other `FakeOpenRouter` arguments
            (``max_concurrent`` …).
    """
    from ..transports.openrouter import OpenRouterTransport
    from ._fake_openrouter import FakeOpenRouter

    fake = FakeOpenRouter(
        api_key=_SIMULATED_KEY, clock=clock, generation_time=generation_time, seed=seed, **knobs
    )
    return fake, wired_transport(
        fake,
        OpenRouterTransport,
        base_url=SIMULATED_OPENROUTER_URL,
        api_key=_SIMULATED_KEY,
        clock=clock,
    )
