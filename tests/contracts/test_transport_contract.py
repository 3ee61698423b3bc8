"""The exported transport contract, run on every built-in transport against its fake."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from soravideo.testing import FakeSora, TransportContract
from soravideo.transports.sora import SoraTransport

BASE_URL = "http://fake-sora.test/v1"
API_KEY = "sk-contract-test-key"


class TestSoraTransportOnFakeSora(TransportContract):
    @pytest.fixture
    def fake(self) -> FakeSora:
        return FakeSora(api_key=API_KEY)

    @pytest.fixture
    async def transport(self, fake: FakeSora) -> AsyncIterator[SoraTransport]:
        async with httpx.AsyncClient(transport=fake.http_transport(), base_url=BASE_URL) as client:
            transport = SoraTransport(
                base_url=BASE_URL, api_key=API_KEY, http_client=client, sleep=fake.clock.sleep
            )
            yield transport
            await transport.aclose()


class TestSoraTransportOnGatewayFakeSora(TransportContract):
    """Gateways keep a cancelled job visible (``cancelled``) instead of deleting it."""

    @pytest.fixture
    def fake(self) -> FakeSora:
        return FakeSora(
            api_key=API_KEY, gateway_statuses=True, generation_time=90.0, queue_time=5.0
        )

    @pytest.fixture
    async def transport(self, fake: FakeSora) -> AsyncIterator[SoraTransport]:
        async with httpx.AsyncClient(transport=fake.http_transport(), base_url=BASE_URL) as client:
            transport = SoraTransport(
                base_url=BASE_URL,
                api_key=API_KEY,
                auth_style="azure",
                http_client=client,
                sleep=fake.clock.sleep,
            )
            yield transport
            await transport.aclose()
