# ruff: noqa: F401, F811, I001
"""fal's create 5xx without x-fal-request-id (found by a review).

fal-client 1.0.3 retries a 502/503/504 only when ``_is_ingress_error``: no
``x-fal-request-id`` AND the body names nginx. Any other (an envoy-style "upstream ...
reset" page, say) may come after the request reached fal: it is ambiguous, never sent
again.
"""

from __future__ import annotations

import httpx
import pytest
import respx

from soravideo import AmbiguousSubmissionError, CreateVideoRequest
from soravideo.transports import FalTransport

from transports.test_fal import (
    BASE,
    KLING,
    Sleeps,
    clean_env,
    fal,
    make,
    client,
    clock,
    queued,
    router,
    sleeps,
)


@pytest.mark.anyio
async def test_a_503_not_from_the_nginx_ingress_is_not_sent_again(
    router: respx.MockRouter, fal: FalTransport, sleeps: Sleeps
) -> None:
    route = router.post(f"{BASE}/{KLING}")
    route.side_effect = [
        httpx.Response(
            503,
            text="upstream connect error or disconnect/reset before headers. "
            "reset reason: connection termination",
        ),
        httpx.Response(200, json=queued()),
    ]
    # fal-client would raise here (not an ingress error: no "nginx"), never re-send.
    with pytest.raises(AmbiguousSubmissionError):
        await fal.submit(CreateVideoRequest(prompt="a fox"), idempotency_key="k")
    assert route.call_count == 1
