"""Transports: one per provider API, each a [`Transport`][soravideo.transports.Transport].

Each transport loads on first use (``from soravideo.transports import RunwayTransport``), so
that an application pays at import time only for the providers it names.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from .base import Capabilities, ContentStream, ModelInfo, RemoteJob, Transport

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
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
