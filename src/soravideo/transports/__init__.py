"""Transports: one per provider API, each a [`Transport`][soravideo.transports.Transport]."""

from __future__ import annotations

from .base import Capabilities, ContentStream, ModelInfo, RemoteJob, Transport
from .runway import RunwayTransport
from .sora import SoraTransport

__all__ = [
    "Capabilities",
    "ContentStream",
    "ModelInfo",
    "RemoteJob",
    "RunwayTransport",
    "SoraTransport",
    "Transport",
]
