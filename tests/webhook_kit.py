"""One kit per provider that pushes ([W2-7]): its fake and a transport wired for webhooks,
in-process on one clock."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import attrs
import httpx

from soravideo._core.clock import Clock
from soravideo.testing import FakeFal, FakeGemini, FakeOpenRouter, FakeReplicate, FakeSora
from soravideo.testing._fakeserver import FakeServer
from soravideo.transports import (
    FalTransport,
    GeminiTransport,
    OpenRouterTransport,
    ReplicateTransport,
    SoraTransport,
)
from soravideo.transports.base import Transport

HOOK = "https://hooks.example.test/soravideo"
# How each fake's delivery of a video's end is keyed (its event key ends with this).
FINAL_EVENT = {
    "fal": ":OK",
    "gemini": ":interaction.completed",
    "openrouter": ":video.generation.completed",
    "replicate": ":completed",
    "sora": ":video.completed",
}
GENERATION = 60.0


@attrs.frozen
class Kit:
    """How to build a provider's fake and a transport that asks it to push."""

    name: str
    build: Callable[[Clock, dict[str, Any], Any], tuple[FakeServer, Transport]]
    reads: Callable[[FakeServer], int]
    thin: bool = False  # its events carry an id only: one status read follows

    def make(self, clock: Clock, **transport_options: Any) -> tuple[FakeServer, Transport]:
        return self.build(clock, transport_options, None)

    def transport_on(self, fake: FakeServer, clock: Clock, **transport_options: Any) -> Transport:
        """Another transport on ``fake`` (a second process's, say)."""
        return self.build(clock, transport_options, fake)[1]


def _client(fake: FakeServer, base_url: str | None = None) -> httpx.AsyncClient:
    if base_url is None:
        return httpx.AsyncClient(transport=fake.http_transport())
    return httpx.AsyncClient(transport=fake.http_transport(), base_url=base_url)


def _replicate(
    clock: Clock, options: dict[str, Any], fake: Any = None
) -> tuple[FakeServer, Transport]:
    if fake is None:
        fake = FakeReplicate(clock=clock, generation_time=GENERATION, queue_time=3)
    options.setdefault("webhook_url", HOOK)
    options.setdefault("webhook_secret", fake.webhooks.secret)
    transport = ReplicateTransport(
        base_url="http://fake-replicate.test",
        api_key="r8_hooks",
        http_client=_client(fake),
        clock=clock,
        **options,
    )
    return fake, transport


def _fal(clock: Clock, options: dict[str, Any], fake: Any = None) -> tuple[FakeServer, Transport]:
    if fake is None:
        fake = FakeFal(clock=clock, generation_time=GENERATION, queue_time=3)
    url = "http://fake-fal.test"
    options.setdefault("webhook_url", HOOK)
    options.setdefault("webhook_jwks_url", url + FakeFal.jwks_path)
    transport = FalTransport(
        base_url=url, api_key="fal:hooks", http_client=_client(fake), clock=clock, **options
    )
    return fake, transport


def _openrouter(
    clock: Clock, options: dict[str, Any], fake: Any = None
) -> tuple[FakeServer, Transport]:
    if fake is None:
        fake = FakeOpenRouter(clock=clock, generation_time=GENERATION)
    options.setdefault("webhook_url", HOOK)
    options.setdefault("webhook_secret", fake.webhooks.secret)
    transport = OpenRouterTransport(
        base_url="http://fake-openrouter.test/api/v1",
        api_key="sk-or-hooks",
        http_client=_client(fake),
        clock=clock,
        **options,
    )
    return fake, transport


def _gemini(
    clock: Clock, options: dict[str, Any], fake: Any = None
) -> tuple[FakeServer, Transport]:
    if fake is None:
        fake = FakeGemini(clock=clock, generation_time=GENERATION)
    options.setdefault("webhook_secret", fake.webhooks.secret)
    transport = GeminiTransport(
        base_url="http://fake-gemini.invalid",
        api_key="AIza-hooks",
        http_client=_client(fake),
        clock=clock,
        **options,
    )
    return fake, transport


def _sora(clock: Clock, options: dict[str, Any], fake: Any = None) -> tuple[FakeServer, Transport]:
    if fake is None:
        fake = FakeSora(clock=clock, generation_time=GENERATION)
    base_url = "http://fakesora.invalid/v1"
    options.setdefault("webhook_secret", fake.webhooks.secret)
    transport = SoraTransport(
        base_url=base_url,
        api_key="sk-hooks",
        http_client=_client(fake, base_url),
        clock=clock,
        **options,
    )
    return fake, transport


def _counted(fake: FakeServer) -> int:
    count: Callable[[], int] = fake.status_request_count  # type: ignore[attr-defined]
    return count()


KITS = {
    "fal": Kit("fal", _fal, _counted),
    "gemini": Kit("gemini", _gemini, _counted, thin=True),
    "openrouter": Kit("openrouter", _openrouter, _counted),
    "replicate": Kit(
        "replicate", _replicate, lambda fake: fake.count(route="get") + fake.count(route="list")
    ),
    "sora": Kit("sora", _sora, _counted, thin=True),
}


def status_reads(kit: Kit, fake: FakeServer) -> int:
    """How many status requests the fake answered."""
    return kit.reads(fake)
