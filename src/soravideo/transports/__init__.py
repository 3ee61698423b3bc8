"""Transports: one per provider API, behind the neutral :class:`Transport` protocol."""

from __future__ import annotations

from .base import Capabilities, ContentStream, ModelInfo, RemoteJob, Transport
from .fal import FalTransport
from .openrouter import OpenRouterTransport
from .replicate import ReplicateTransport
from .runway import RunwayTransport
from .sora import SoraTransport

__all__ = [
    "Capabilities",
    "ContentStream",
    "FalTransport",
    "ModelInfo",
    "OpenRouterTransport",
    "RemoteJob",
    "ReplicateTransport",
    "RunwayTransport",
    "SoraTransport",
    "Transport",
]
