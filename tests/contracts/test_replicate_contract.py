"""The exported transport contract on ReplicateTransport + FakeReplicate (in-process).

Replicate lists predictions (cursor pages), so the list tests run; it honours no
idempotency key, so the transport remembers its own creates.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from soravideo.testing import FakeReplicate, TransportContract
from soravideo.transports.replicate import ReplicateTransport

BASE_URL = "http://fake-replicate.test"
API_TOKEN = "r8_contract_test_token_0123456789"


class TestReplicateTransportOnFakeReplicate(TransportContract):
    @pytest.fixture
    def fake(self) -> FakeReplicate:
        # Two predictions a page: fetch_many and list_recent follow the cursor.
        return FakeReplicate(api_token=API_TOKEN, generation_time=90.0, queue_time=5.0, page_size=2)

    @pytest.fixture
    async def transport(self, fake: FakeReplicate) -> AsyncIterator[ReplicateTransport]:
        async with httpx.AsyncClient(transport=fake.http_transport()) as client:
            transport = ReplicateTransport(
                base_url=BASE_URL, api_key=API_TOKEN, http_client=client, clock=fake.clock
            )
            yield transport
            await transport.aclose()
