"""The parts of a ``simulated()`` client: a provider's fake in-process, on simulated time."""

from __future__ import annotations

from typing import TYPE_CHECKING

import httpx

from .._core.clock import VirtualClock
from ..transports.sora import SoraTransport
from ._fake_sora import FakeSora
from ._fakeserver import FakeServer, wired_transport

if TYPE_CHECKING:
    from ..transports.base import Transport

# FakeSora and FakeServer are named here too: the client imports this module alone
# (lint-imports allows that one import of soravideo.testing), and its ``fake`` attribute is
# typed with them.
__all__ = [
    "SIMULATED_BASE_URL",
    "SIMULATED_PROVIDERS",
    "FakeServer",
    "FakeSora",
    "simulated_parts",
    "simulated_provider_parts",
]

SIMULATED_BASE_URL = "http://fakesora.invalid/v1"
SIMULATED_PROVIDERS = ("sora", "runway", "fal", "openrouter", "gemini", "replicate")
"""The providers ``simulated(provider=…)`` can stand in for, each by its fake."""


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
        idempotent_creates=True,  # FakeSora answers a repeated Idempotency-Key with its video
    )
    return fake, transport


def simulated_provider_parts(
    provider: str, clock: VirtualClock, *, generation_time: float, seed: int = 0
) -> tuple[FakeServer, Transport]:
    """Return ``provider``'s fake on ``clock`` and its transport, reaching it without sockets.

    Args:
        provider: One of ``SIMULATED_PROVIDERS``.
        clock: The simulated time both run on.
        generation_time: Simulated seconds each video takes.
        seed: Seeds the fake's ids (see `simulated_parts`).

    Raises:
        ValueError: ``provider`` has no fake.
    """
    if provider == "sora":
        return simulated_parts(clock, generation_time=generation_time, seed=seed)
    if provider == "runway":
        from ._simulated_runway import simulated_runway_parts

        return simulated_runway_parts(clock, generation_time=generation_time, seed=seed)
    if provider == "openrouter":
        from ._simulated_openrouter import simulated_openrouter_parts

        return simulated_openrouter_parts(clock, generation_time=generation_time, seed=seed)
    if provider == "fal":
        from ..transports.fal import FalTransport
        from ._fake_fal import FakeFal

        fal = FakeFal(
            api_key="key-simulated", clock=clock, generation_time=generation_time, seed=seed
        )
        return fal, wired_transport(
            fal,
            FalTransport,
            base_url="http://fakefal.invalid",
            api_key="key-simulated",
            clock=clock,
        )
    if provider == "gemini":
        from ..transports.gemini import GeminiTransport
        from ._fake_gemini import FakeGemini

        gemini = FakeGemini(
            api_key="key-simulated", clock=clock, generation_time=generation_time, seed=seed
        )
        return gemini, wired_transport(
            gemini,
            GeminiTransport,
            base_url="http://fakegemini.invalid",
            api_key="key-simulated",
            clock=clock,
        )
    if provider == "replicate":
        from ..transports.replicate import ReplicateTransport
        from ._fake_replicate import FakeReplicate

        replicate = FakeReplicate(
            api_token="r8_simulated", clock=clock, generation_time=generation_time, seed=seed
        )
        return replicate, wired_transport(
            replicate,
            ReplicateTransport,
            base_url="http://fakereplicate.invalid",
            api_key="r8_simulated",
            clock=clock,
        )
    raise ValueError(
        f"no simulator for provider {provider!r}; choose one of {', '.join(SIMULATED_PROVIDERS)}"
    )
