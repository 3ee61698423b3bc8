"""The parts of a simulated Runway client: FakeRunway in-process, on simulated time."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .._core.clock import VirtualClock
from ._fakeserver import wired_transport

if TYPE_CHECKING:
    from ..transports.runway import RunwayTransport
    from ._fake_runway import FakeRunway

__all__ = ["SIMULATED_RUNWAY_URL", "simulated_runway_parts"]

SIMULATED_RUNWAY_URL = "http://fakerunway.invalid"
_SIMULATED_KEY = "key_simulated"


def simulated_runway_parts(
    clock: VirtualClock, *, generation_time: float, seed: int = 0, **knobs: Any
) -> tuple[FakeRunway, RunwayTransport]:
    """Return a FakeRunway on ``clock`` and a RunwayTransport that reaches it without sockets.

    Args:
        clock: The simulated time both run on.
        generation_time: Simulated seconds each video takes.
        seed: Seeds the fake's task ids.
        **knobs: Other [`FakeRunway`][soravideo.testing.FakeRunway] arguments
            (``max_concurrent`` …).
    """
    from ..transports.runway import RunwayTransport
    from ._fake_runway import FakeRunway

    fake = FakeRunway(
        api_key=_SIMULATED_KEY, clock=clock, generation_time=generation_time, seed=seed, **knobs
    )
    return fake, wired_transport(
        fake, RunwayTransport, base_url=SIMULATED_RUNWAY_URL, api_key=_SIMULATED_KEY, clock=clock
    )
