"""The exported transport contract on OpenRouterTransport + FakeOpenRouter (in-process).

OpenRouter can neither cancel nor list, so those tests of the contract skip; the
transport remembers its own creates, as there is no idempotency key either.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from soravideo.testing import FakeOpenRouter, TransportContract
from soravideo.transports.openrouter import OpenRouterTransport

BASE_URL = "http://fake-openrouter.test/api/v1"
API_KEY = "sk-or-v1-contract-test-key"


class TestOpenRouterTransportOnFakeOpenRouter(TransportContract):
    @pytest.fixture
    def fake(self) -> FakeOpenRouter:
        return FakeOpenRouter(
            api_key=API_KEY, generation_time=90.0, queue_time=5.0, max_concurrent=2
        )

    @pytest.fixture
    async def transport(self, fake: FakeOpenRouter) -> AsyncIterator[OpenRouterTransport]:
        async with httpx.AsyncClient(transport=fake.http_transport()) as client:
            transport = OpenRouterTransport(
                base_url=BASE_URL, api_key=API_KEY, http_client=client, clock=fake.clock
            )
            yield transport
            await transport.aclose()
