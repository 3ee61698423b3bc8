"""A transport's ``webhook_url`` is checked when the transport is made: a typo is named
before any create is sent, not found when the provider refuses the create (or pushes to
nowhere)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

import soravideo as sv
from soravideo.transports import FalTransport, OpenRouterTransport, ReplicateTransport

MAKERS: dict[str, Callable[..., Any]] = {
    "fal": lambda url: FalTransport(api_key="fal-key", webhook_url=url),
    "openrouter": lambda url: OpenRouterTransport(api_key="sk-or-key", webhook_url=url),
    "replicate": lambda url: ReplicateTransport(api_key="r8_key", webhook_url=url),
}


@pytest.mark.parametrize("provider", MAKERS)
@pytest.mark.parametrize(
    "url",
    ["hooks.example/replicate", "ftp://hooks.example/x", "https://", "/api/v1/webhooks/fal", " "],
)
def test_a_webhook_url_that_is_not_an_absolute_http_url_is_named(provider: str, url: str) -> None:
    with pytest.raises(sv.ValidationError) as info:
        MAKERS[provider](url)

    assert info.value.fields == ("webhook_url",)


@pytest.mark.parametrize("provider", MAKERS)
def test_a_good_webhook_url_is_kept_and_an_empty_one_means_none(provider: str) -> None:
    url = "https://hooks.example/api/v1/webhooks/x?token=1"

    assert MAKERS[provider](url).webhook_url == url
    assert MAKERS[provider]("").webhook_url is None
    assert MAKERS[provider](None).webhook_url is None
