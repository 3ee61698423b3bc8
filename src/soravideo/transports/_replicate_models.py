"""The Replicate video models `ReplicateTransport` maps.

Each model's inputs as its API page on replicate.com documents them (read 2026-12-06; see
``docs/replicate.md``): how the neutral fields are spelt in its ``input`` object, which
values it takes, and which input carries an image. Replicate publishes its prices per
model page only, and none could be verified, so every price here is ``None``: give yours
as configuration (``ReplicateTransport(prices={...})``, ``FakeReplicate(prices={...})``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import attrs

__all__ = [
    "REPLICATE_MODELS",
    "ReplicateModel",
    "model_problem",
    "price_of_input",
    "split_model",
]

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*/[A-Za-z0-9][A-Za-z0-9_.-]*$")
_VERSION = re.compile(r"^[0-9a-f]{64}$")


@attrs.frozen(kw_only=True)
class ReplicateModel:
    """What one Replicate model takes in its ``input`` object.

    Args:
        name: ``owner/name``.
        durations: Whole seconds it makes (empty: one fixed length, no ``duration`` input).
        default_duration: What it makes when no ``duration`` is sent.
        fixed_seconds: The length of its videos when it takes no ``duration`` (for prices).
        aspect_ratios: Its ``aspect_ratio`` values (empty: the image sets the shape).
        resolutions: The neutral resolutions it makes (``720p``, ``1080p``).
        resolution_field: The input that sets the resolution (``resolution``, or ``mode``
            on Kling).
        resolution_values: Neutral resolution → the value sent, where they differ
            (Kling: ``720p`` → ``standard``).
        image_field: The input that takes the first frame.
        needs_image: Whether it makes videos from an image only.
        max_prompt: The longest prompt it takes, if it says.
        price_per_second_usd: USD per second of video, where known.
    """

    name: str
    durations: tuple[int, ...] = ()
    default_duration: int | None = None
    fixed_seconds: int | None = None
    aspect_ratios: tuple[str, ...] = ()
    resolutions: tuple[str, ...] = ()
    resolution_field: str = "resolution"
    resolution_values: Mapping[str, str] = attrs.field(factory=dict)
    image_field: str = "image"
    needs_image: bool = False
    max_prompt: int | None = None
    price_per_second_usd: float | None = None

    def resolution_value(self, resolution: str) -> str:
        """Return how this model spells a neutral resolution."""
        return self.resolution_values.get(resolution, resolution)

    def neutral_resolution(self, value: Any) -> str | None:
        """Return the neutral resolution a sent value stands for, if it is one."""
        for neutral in self.resolutions:
            if self.resolution_value(neutral) == value:
                return neutral
        return None


def _veo(name: str) -> ReplicateModel:
    return ReplicateModel(
        name=name,
        durations=(4, 6, 8),
        default_duration=8,
        aspect_ratios=("16:9", "9:16"),
        resolutions=("720p", "1080p"),
    )


_KLING_MODES = {"720p": "standard", "1080p": "pro"}

REPLICATE_MODELS: Mapping[str, ReplicateModel] = {
    m.name: m
    for m in (
        _veo("google/veo-3"),
        _veo("google/veo-3-fast"),
        _veo("google/veo-3.1"),
        _veo("google/veo-3.1-fast"),
        ReplicateModel(
            name="kwaivgi/kling-v2.1",
            durations=(5, 10),
            default_duration=5,
            resolutions=("720p", "1080p"),
            resolution_field="mode",
            resolution_values=_KLING_MODES,
            image_field="start_image",
            needs_image=True,
        ),
        ReplicateModel(
            name="kwaivgi/kling-v2.5-turbo-pro",
            durations=(5, 10),
            default_duration=5,
            aspect_ratios=("16:9", "9:16", "1:1"),
            image_field="start_image",
        ),
        ReplicateModel(
            name="kwaivgi/kling-v3-video",
            durations=tuple(range(3, 16)),
            default_duration=5,
            aspect_ratios=("16:9", "9:16", "1:1"),
            resolutions=("720p", "1080p"),
            resolution_field="mode",
            resolution_values=_KLING_MODES,
            image_field="start_image",
            max_prompt=2500,
        ),
        ReplicateModel(
            name="minimax/video-01",
            fixed_seconds=6,
            image_field="first_frame_image",
        ),
    )
}
"""The models whose inputs are mapped; any other ``owner/name`` is sent as given."""


def model_problem(model: str) -> str | None:
    """Return why ``model`` names no Replicate model or version, or ``None`` when it does.

    Accepted: ``owner/name`` (an official model: its latest version), ``owner/name:VERSION``
    and a bare ``VERSION`` (64 hex digits).
    """
    if not isinstance(model, str):
        return "is not text"
    name, sep, version = model.partition(":")
    if not sep and _VERSION.match(model):
        return None
    if not _NAME.match(name):
        return "is not owner/name, owner/name:VERSION or a 64-hex version id"
    if sep and not _VERSION.match(version):
        return "has a version that is not 64 hex digits"
    return None


def split_model(model: str) -> tuple[str | None, str | None]:
    """Return ``(owner/name, version)`` of a model reference (either may be ``None``)."""
    name, sep, version = model.partition(":")
    if not sep:
        return (None, model) if _VERSION.match(model) else (model, None)
    return name, version


def price_of_input(
    spec: ReplicateModel | None, body: Mapping[str, Any], *, per_second: float | None = None
) -> float | None:
    """Return the USD price of the ``input`` sent to a model, or ``None`` when unknown.

    Args:
        spec: The model (``None``: not in `REPLICATE_MODELS`).
        body: The ``input`` object sent.
        per_second: USD per second of video, overriding the model's own price.
    """
    price = per_second if per_second is not None else (spec.price_per_second_usd if spec else None)
    if price is None:
        return None
    seconds = body.get("duration")
    if isinstance(seconds, bool) or not isinstance(seconds, int):
        seconds = None
    if seconds is None and spec is not None:
        seconds = spec.default_duration or spec.fixed_seconds
    if seconds is None:
        return None
    return round(price * seconds, 6)
