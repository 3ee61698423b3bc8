"""Transports: one per provider API, each a [`Transport`][soravideo.transports.Transport]."""

from __future__ import annotations

from .base import Capabilities, ContentStream, ModelInfo, RemoteJob, Transport
from .fal import FalTransport
from .openrouter import OpenRouterTransport
from .runway import RunwayTransport
from .sora import SoraTransport

__all__ = [
    "Capabilities",
    "ContentStream",
    "FalTransport",
    "ModelInfo",
    "OpenRouterTransport",
    "RemoteJob",
    "RunwayTransport",
    "SoraTransport",
    "Transport",
]
