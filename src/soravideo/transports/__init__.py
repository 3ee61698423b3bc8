"""Transports: one per provider API, behind the neutral :class:`Transport` protocol."""

from __future__ import annotations

from .base import Capabilities, ContentStream, ModelInfo, RemoteJob, Transport
from .openrouter import OpenRouterTransport
from .runway import RunwayTransport
from .sora import SoraTransport

__all__ = [
    "Capabilities",
    "ContentStream",
    "ModelInfo",
    "OpenRouterTransport",
    "RemoteJob",
    "RunwayTransport",
    "SoraTransport",
    "Transport",
]
