"""The exported transport contract, run on every built-in transport against its fake."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from soravideo.testing import FakeFal, FakeRunway, FakeSora, TransportContract
from soravideo.transports.fal import FalTransport
from soravideo.transports.runway import RunwayTransport
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


RUNWAY_URL = "http://fake-runway.test"
RUNWAY_KEY = "key_contract_test_0123456789abcdef"


class TestRunwayTransportOnFakeRunway(TransportContract):
    """No list and no idempotency key at Runway: the transport remembers its own creates."""

    @pytest.fixture
    def fake(self) -> FakeRunway:
        return FakeRunway(api_key=RUNWAY_KEY, generation_time=60.0, max_concurrent=2)

    @pytest.fixture
    async def transport(self, fake: FakeRunway) -> AsyncIterator[RunwayTransport]:
        async with httpx.AsyncClient(transport=fake.http_transport()) as client:
            transport = RunwayTransport(
                base_url=RUNWAY_URL, api_key=RUNWAY_KEY, http_client=client, clock=fake.clock
            )
            yield transport
            await transport.aclose()


FAL_URL = "http://fake-fal.test"
FAL_KEY = "fal_contract_test_key:0123456789abcdef"


class TestFalTransportOnFakeFal(TransportContract):
    """No list and no idempotency key at fal: the transport remembers its own creates."""

    @pytest.fixture
    def fake(self) -> FakeFal:
        return FakeFal(api_key=FAL_KEY, generation_time=60.0, queue_time=2.0, max_concurrent=2)

    @pytest.fixture
    async def transport(self, fake: FakeFal) -> AsyncIterator[FalTransport]:
        async with httpx.AsyncClient(transport=fake.http_transport()) as client:
            transport = FalTransport(
                base_url=FAL_URL, api_key=FAL_KEY, http_client=client, clock=fake.clock
            )
            yield transport
            await transport.aclose()
