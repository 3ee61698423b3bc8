"""Google's Gemini API video models as soravideo knows them, their prices, and remote ids.

`GEMINI_MODELS` is the table `GeminiTransport`
maps requests onto and [`FakeGemini`][soravideo.testing.FakeGemini] checks them against.
`gemini_remote_id` and `operation_name` turn a Veo operation's name (which holds
``/``) into a remote id that keeps the shared rule, and back.

Where the figures come from (read 2026-12-06; see ``docs/gemini.md``):

- Gemini Omni (Interactions API): the model ids, resolutions (``360p`` … ``4k``) and
  aspect ratios (``16:9``, ``9:16``) are the official ``google-genai`` 3.6.1 client's
  types. Durations (1.1: 3–10 s, 1.2: 3–15 s) and every per-second price are
  third-party figures (resellers' per-second rates): Google bills Omni by output tokens
  and publishes no per-second price. Pass ``prices=`` for your own figures.
- Veo 3.1 (``predictLongRunning``): durations 4, 6, 8 s, ``720p``/``1080p``/``4k`` (the
  two larger only at 8 s), ``16:9``/``9:16``, from Google's Veo guide. Veo 3.1's
  $0.40 a second ($0.60 at 4k) is Google's list price as transcribed from its pricing page;
  Veo 3.1 Fast's $0.15 ($0.35 at 4k) is a third-party figure; Veo 3.1 Lite has none.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Literal

import attrs

from .base import remote_id_problem

__all__ = [
    "GEMINI_MODELS",
    "PRICES_READ_ON",
    "GeminiModel",
    "api_of",
    "gemini_remote_id",
    "is_operation",
    "operation_name",
]

PRICES_READ_ON = "2026-12-06"
"""When the figures in `GEMINI_MODELS` were read."""

Api = Literal["interactions", "veo"]

_SEGMENT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


@attrs.frozen(kw_only=True)
class GeminiModel:
    """One video model of the Gemini API.

    Args:
        name: The model id (``"gemini-omni-1.2-flash"``, ``"veo-3.1-generate-preview"``).
        api: ``"interactions"`` (Gemini Omni: ``POST /interactions``) or ``"veo"``
            (``POST /models/{name}:predictLongRunning``).
        durations: Whole seconds it makes.
        resolutions: ``"720p"`` … as the API spells them.
        aspect_ratios: ``"16:9"``, ``"9:16"``.
        default_duration: Seconds sent when a request names none (so the estimate holds).
        default_resolution: The resolution sent when a request names none.
        long_only: Resolutions made only at the longest duration (Veo: ``1080p``, ``4k``
            at 8 s).
        prices: USD per second by resolution; ``None`` where no figure is known.
        accepts_image: Whether it takes a start image.
        negative_prompt: Whether it has a negative prompt field (Veo's
            ``negativePrompt``; Omni has none).
    """

    name: str
    api: Api
    durations: tuple[int, ...]
    resolutions: tuple[str, ...]
    aspect_ratios: tuple[str, ...] = ("16:9", "9:16")
    default_duration: int
    default_resolution: str = "720p"
    long_only: tuple[str, ...] = ()
    prices: Mapping[str, float] | None = None
    accepts_image: bool = True
    negative_prompt: bool = False

    def price_per_second(self, resolution: str | None = None) -> float | None:
        """Return USD per second at ``resolution`` (the default one when ``None``)."""
        if self.prices is None:
            return None
        return self.prices.get((resolution or self.default_resolution).lower())


_OMNI_PRICES = {"360p": 0.03, "720p": 0.10, "1080p": 0.15, "4k": 0.30}
_OMNI_RESOLUTIONS = ("360p", "720p", "1080p", "4k")
_VEO_RESOLUTIONS = ("720p", "1080p", "4k")

GEMINI_MODELS: Mapping[str, GeminiModel] = {
    "gemini-omni-1.2-flash": GeminiModel(
        name="gemini-omni-1.2-flash",
        api="interactions",
        durations=tuple(range(3, 16)),
        resolutions=_OMNI_RESOLUTIONS,
        default_duration=8,
        prices=_OMNI_PRICES,
    ),
    "gemini-omni-1.1-flash": GeminiModel(
        name="gemini-omni-1.1-flash",
        api="interactions",
        durations=tuple(range(3, 11)),
        resolutions=_OMNI_RESOLUTIONS,
        default_duration=8,
        prices=_OMNI_PRICES,
    ),
    "gemini-omni-flash-preview": GeminiModel(
        name="gemini-omni-flash-preview",
        api="interactions",
        durations=tuple(range(3, 11)),
        resolutions=("720p",),
        default_duration=8,
        prices={"720p": 0.10},
    ),
    "veo-3.1-generate-preview": GeminiModel(
        name="veo-3.1-generate-preview",
        api="veo",
        durations=(4, 6, 8),
        resolutions=_VEO_RESOLUTIONS,
        default_duration=8,
        long_only=("1080p", "4k"),
        prices={"720p": 0.40, "1080p": 0.40, "4k": 0.60},
        negative_prompt=True,
    ),
    "veo-3.1-fast-generate-preview": GeminiModel(
        name="veo-3.1-fast-generate-preview",
        api="veo",
        durations=(4, 6, 8),
        resolutions=_VEO_RESOLUTIONS,
        default_duration=8,
        long_only=("1080p", "4k"),
        prices={"720p": 0.15, "1080p": 0.15, "4k": 0.35},
        negative_prompt=True,
    ),
    "veo-3.1-lite-generate-preview": GeminiModel(
        name="veo-3.1-lite-generate-preview",
        api="veo",
        durations=(4, 6, 8),
        resolutions=("720p", "1080p"),
        default_duration=8,
        long_only=("1080p",),
        negative_prompt=True,
    ),
}
"""Video models known to soravideo (see the module notes); other names are sent as given,
to Veo's endpoint when they start with ``veo-``, else to the Interactions API."""


def api_of(model: str) -> Api:
    """Return which API serves ``model``: the table's answer, else ``veo`` for ``veo-…``."""
    spec = GEMINI_MODELS.get(model)
    if spec is not None:
        return spec.api
    return "veo" if model.lower().startswith("veo-") else "interactions"


def gemini_remote_id(name: str) -> str:
    """Return the remote id of the Veo operation ``name``: its ``/`` become ``:``.

    ``models/veo-3.1-generate-preview/operations/abc123`` is
    ``models:veo-3.1-generate-preview:operations:abc123``: one URL path segment, as the
    shared rule wants, from which `operation_name` gives the name back.

    Raises:
        ValueError: ``name`` is not ``…/operations/{id}`` made of plain segments.
    """
    parts = name.split("/")
    if len(parts) < 2 or parts[-2] != "operations":
        raise ValueError(f"{name!r} is not an operation name (…/operations/{{id}})")
    for part in parts:
        if remote_id_problem(part) is not None or not _SEGMENT.match(part):
            raise ValueError(f"{name!r} has a segment that cannot be addressed: {part!r}")
    remote_id = ":".join(parts)
    problem = remote_id_problem(remote_id)
    if problem is not None:
        raise ValueError(f"{name!r}: the remote id {problem}")
    return remote_id


def is_operation(remote_id: str) -> bool:
    """Whether ``remote_id`` is a Veo operation's (``…:operations:{id}``), not an interaction's."""
    parts = remote_id.split(":")
    return len(parts) >= 2 and parts[-2] == "operations"


def operation_name(remote_id: str) -> str:
    """Return the operation name a remote id made by `gemini_remote_id` stands for.

    Raises:
        ValueError: ``remote_id`` is not such an id.
    """
    name = remote_id.replace(":", "/")
    gemini_remote_id(name)  # checks every segment
    return name
