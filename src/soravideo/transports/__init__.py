"""Transports: one per provider API, each a [`Transport`][soravideo.transports.Transport].

Each transport loads on first use (``from soravideo.transports import RunwayTransport``), so
that an application pays at import time only for the providers it names.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .._core.lazy import lazy_attribute as _lazy_attribute
from .._core.lazy import lazy_dir as _lazy_dir
from .base import (
    Capabilities,
    ContentStream,
    ModelInfo,
    RemoteJob,
    SupportsFetchSeen,
    Transport,
)

if TYPE_CHECKING:
    from .fal import FalTransport
    from .gemini import GeminiTransport
    from .openrouter import OpenRouterTransport
    from .replicate import ReplicateTransport
    from .runway import RunwayTransport
    from .sora import SoraTransport

__all__ = [
    "Capabilities",
    "ContentStream",
    "FalTransport",
    "GeminiTransport",
    "ModelInfo",
    "OpenRouterTransport",
    "RemoteJob",
    "ReplicateTransport",
    "RunwayTransport",
    "SoraTransport",
    "SupportsFetchSeen",
    "Transport",
]

# Name -> the module that defines it, imported on first access (PEP 562).
_LAZY = {
    "FalTransport": ".fal",
    "GeminiTransport": ".gemini",
    "OpenRouterTransport": ".openrouter",
    "ReplicateTransport": ".replicate",
    "RunwayTransport": ".runway",
    "SoraTransport": ".sora",
}


def __getattr__(name: str) -> Any:
    return _lazy_attribute(globals(), _LAZY, name)


def __dir__() -> list[str]:
    return _lazy_dir(globals())
