"""Transports: one per provider API, each a [`Transport`][soravideo.transports.Transport]."""

from __future__ import annotations

from .base import Capabilities, ContentStream, ModelInfo, RemoteJob, Transport
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
