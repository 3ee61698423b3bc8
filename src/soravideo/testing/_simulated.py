"""The parts of a ``simulated()`` client: FakeSora in-process, on simulated time."""

from __future__ import annotations

import httpx

from .._core.clock import VirtualClock
from ..transports.sora import SoraTransport
from ._fake_sora import FakeSora

# FakeSora is named here too: the client imports this module alone (lint-imports allows
# that one import of soravideo.testing), and its ``fake`` attribute is typed with it.
__all__ = ["SIMULATED_BASE_URL", "FakeSora", "simulated_parts"]

SIMULATED_BASE_URL = "http://fakesora.invalid/v1"


def simulated_parts(
    clock: VirtualClock, *, generation_time: float, seed: int = 0
) -> tuple[FakeSora, SoraTransport]:
    """Return a FakeSora on ``clock`` and a SoraTransport that reaches it without sockets.

    ``seed`` seeds the fake's video ids: simulators that share a ledger one after the
    other (one per command) need different seeds, or a new video could take the id of
    one an earlier simulator made.
    """
    fake = FakeSora(clock=clock, generation_time=generation_time, seed=seed)
    http_client = httpx.AsyncClient(transport=fake.http_transport(), base_url=SIMULATED_BASE_URL)
    transport = SoraTransport(
        base_url=SIMULATED_BASE_URL,
        api_key="sk-simulated",
        http_client=http_client,
        clock=clock,
    )
    return fake, transport
