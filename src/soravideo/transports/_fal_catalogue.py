"""fal's video endpoints as soravideo knows them: inputs, prices, and how fal addresses requests.

`FAL_MODELS` is the table [`FalTransport`][soravideo.transports.FalTransport] maps requests
onto and [`FakeFal`][soravideo.testing.FakeFal] checks them against; `price_of_body`
prices what is sent; `app_of`, `fal_remote_id` and `split_remote_id`
turn an endpoint id and a request id into the remote id soravideo records, and back.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Literal

import attrs

from .base import remote_id_problem

__all__ = [
    "FAL_MODELS",
    "PRICES_READ_ON",
    "FalModel",
    "app_of",
    "fal_remote_id",
    "price_of_body",
    "split_remote_id",
]

PRICES_READ_ON = "2026-12-06"
"""When the prices in `FAL_MODELS` were read on fal's model pages."""
_APP_NAMESPACES = ("workflows", "comfy")
_NUMBERED_APP = re.compile(r"^([0-9]+)-([a-zA-Z0-9-]+)$")
_SEGMENT = re.compile(r"^[A-Za-z0-9._~-]+$")
_MAX_REMOTE_ID = 256

DurationStyle = Literal["str", "seconds", "int"]


@attrs.frozen(kw_only=True)
class FalModel:
    """What one fal video endpoint accepts, and what it costs.

    Args:
        name: The endpoint id (``"fal-ai/veo3.1"``), as sent in the create's URL.
        family: The model's public name, for documentation (``"Veo 3.1"``).
        image_field: The input that takes the start image on this endpoint
            (``"image_url"``); ``None`` for a text-to-video endpoint.
        image_endpoint: For a text-to-video endpoint, the endpoint a request with an
            image goes to instead (``None``: the model takes text only).
        durations: Whole seconds the endpoint makes (empty: a fixed length, no
            ``duration`` input).
        duration_style: How ``duration`` is spelled: ``"str"`` (``"5"``), ``"seconds"``
            (``"8s"``) or ``"int"`` (``5``).
        default_duration: Seconds soravideo asks for when the request names none (always
            sent, so the estimate holds; for a fixed length, its length if known).
        aspect_ratios: ``aspect_ratio`` values the endpoint takes (empty: none; the image
            or the model decides the shape).
        resolutions: ``resolution`` values the endpoint takes, as soravideo names them
            (``"720p"``) and fal spells them (empty: none from the request).
        extra_resolutions: ``resolution`` values fal takes that soravideo has no name
            for (``"512P"``): set through ``provider_options["resolution"]``.
        default_resolution: The resolution fal makes when none is sent (for the price).
        audio: The default of the endpoint's ``generate_audio`` input (``None``: it has
            none).
        max_prompt: Most characters of ``prompt`` (``None``: no published limit).
        usd_per_second: USD per second of video by resolution (``""``: any resolution).
        usd_per_second_audio: The same with ``generate_audio`` on, where audio costs more.
        usd_per_video: USD per video by seconds (``0``: any length), for models priced
            per video.
    """

    name: str
    family: str
    image_field: str | None = None
    image_endpoint: str | None = None
    durations: tuple[int, ...] = ()
    duration_style: DurationStyle = "str"
    default_duration: int | None = None
    aspect_ratios: tuple[str, ...] = ()
    resolutions: tuple[str, ...] = ()
    extra_resolutions: tuple[str, ...] = ()
    default_resolution: str | None = None
    audio: bool | None = None
    max_prompt: int | None = None
    usd_per_second: Mapping[str, float] = attrs.field(factory=dict)
    usd_per_second_audio: Mapping[str, float] = attrs.field(factory=dict)
    usd_per_video: Mapping[int, float] = attrs.field(factory=dict)

    @property
    def app(self) -> str:
        """The part of the endpoint id fal addresses requests by (``fal-ai/veo3.1``)."""
        return app_of(self.name)

    @property
    def needs_image(self) -> bool:
        """Whether the endpoint makes videos from an image only."""
        return self.image_field is not None

    def render_duration(self, seconds: int) -> str | int:
        """Return ``seconds`` spelled as this endpoint's ``duration`` input wants it."""
        if self.duration_style == "int":
            return seconds
        if self.duration_style == "seconds":
            return f"{seconds}s"
        return str(seconds)

    @property
    def priced(self) -> bool:
        """Whether fal's published price for this endpoint is known here."""
        return bool(self.usd_per_second or self.usd_per_video)


def _veo(name: str, *, image: bool, fast: bool, image_endpoint: str | None = None) -> FalModel:
    per_second = {} if fast else {"720p": 0.20, "1080p": 0.20, "4k": 0.40}
    with_audio = {} if fast else {"720p": 0.40, "1080p": 0.40, "4k": 0.60}
    return FalModel(
        name=name,
        family="Veo 3.1 Fast" if fast else "Veo 3.1",
        image_field="image_url" if image else None,
        image_endpoint=image_endpoint,
        durations=(4, 6, 8),
        duration_style="seconds",
        default_duration=8,
        aspect_ratios=("16:9", "9:16"),
        resolutions=("720p", "1080p", "4k"),
        default_resolution="720p",
        audio=True,
        max_prompt=20_000,
        usd_per_second=per_second,
        usd_per_second_audio=with_audio,
    )


def _kling(
    name: str, family: str, usd: float, *, image: bool, image_endpoint: str | None = None
) -> FalModel:
    return FalModel(
        name=name,
        family=family,
        image_field="image_url" if image else None,
        image_endpoint=image_endpoint,
        durations=(5, 10),
        default_duration=5,
        # Kling's image-to-video endpoints take no aspect ratio: the image sets the shape.
        aspect_ratios=() if image else ("16:9", "9:16", "1:1"),
        max_prompt=2500,
        usd_per_second={"": usd},
    )


def _seedance2(name: str, usd_720p: float, *, image: bool, image_endpoint: str | None) -> FalModel:
    return FalModel(
        name=name,
        family="Seedance 2.0 Fast" if "/fast/" in name else "Seedance 2.0",
        image_field="image_url" if image else None,
        image_endpoint=image_endpoint,
        durations=tuple(range(4, 16)),
        default_duration=5,
        aspect_ratios=("21:9", "16:9", "4:3", "1:1", "3:4", "9:16"),
        resolutions=("480p", "720p"),
        default_resolution="720p",
        # Audio is on by default and costs the same.
        audio=True,
        usd_per_second={"720p": usd_720p},
    )


def _seedance1(name: str, *, image: bool, image_endpoint: str | None) -> FalModel:
    return FalModel(
        name=name,
        family="Seedance 1.0 Pro",
        image_field="image_url" if image else None,
        image_endpoint=image_endpoint,
        durations=tuple(range(2, 13)),
        default_duration=5,
        aspect_ratios=("21:9", "16:9", "4:3", "1:1", "3:4", "9:16"),
        resolutions=("480p", "720p", "1080p"),
        default_resolution="1080p",
    )


def _hailuo23(name: str, *, pro: bool, image: bool, image_endpoint: str | None) -> FalModel:
    return FalModel(
        name=name,
        family="MiniMax Hailuo 2.3 Pro" if pro else "MiniMax Hailuo 2.3",
        image_field="image_url" if image else None,
        image_endpoint=image_endpoint,
        durations=() if pro else (6, 10),
        default_duration=None if pro else 6,
        max_prompt=2000,
        usd_per_video={0: 0.49} if pro else {6: 0.28, 10: 0.56},
    )


def _pika(name: str, *, image: bool, image_endpoint: str | None = None) -> FalModel:
    return FalModel(
        name=name,
        family="Pika 2.2",
        image_field="image_url" if image else None,
        image_endpoint=image_endpoint,
        durations=(5, 10),
        duration_style="int",
        default_duration=5,
        aspect_ratios=() if image else ("16:9", "9:16", "1:1", "4:5", "5:4", "3:2", "2:3"),
        resolutions=("720p", "1080p"),
        default_resolution="720p",
        # $0.20 per 5 s at 720p, $0.45 per 5 s at 1080p.
        usd_per_second={"720p": 0.04, "1080p": 0.09},
    )


_VEO = "fal-ai/veo3.1"
_KLING25 = "fal-ai/kling-video/v2.5-turbo/pro"
_KLING21 = "fal-ai/kling-video/v2.1"
_SEEDANCE2 = "bytedance/seedance-2.0"
_SEEDANCE1 = "fal-ai/bytedance/seedance/v1/pro"
_HAILUO23 = "fal-ai/minimax/hailuo-2.3"
_PIKA = "fal-ai/pika/v2.2"

_TABLE = [
    # Inputs: fal-js's generated schemas (libs/client/src/types/video/zod.gen.ts at commit
    # 53241327, 2026-02-03; a test compares this table with a copy of them), Seedance 2.0
    # from fal's model pages (fal.ai/models/<id>/llms.txt). Prices: fal's model pages,
    # read on PRICES_READ_ON; None where fal publishes none this module could read (pass
    # ``prices=`` to FalTransport to budget with your own figure).
    _veo(_VEO, image=False, fast=False, image_endpoint=f"{_VEO}/image-to-video"),
    _veo(f"{_VEO}/image-to-video", image=True, fast=False),
    _veo(f"{_VEO}/fast", image=False, fast=True, image_endpoint=f"{_VEO}/fast/image-to-video"),
    _veo(f"{_VEO}/fast/image-to-video", image=True, fast=True),
    _kling(
        f"{_KLING25}/text-to-video",
        "Kling 2.5 Turbo Pro",
        0.07,
        image=False,
        image_endpoint=f"{_KLING25}/image-to-video",
    ),
    _kling(f"{_KLING25}/image-to-video", "Kling 2.5 Turbo Pro", 0.07, image=True),
    _kling(
        f"{_KLING21}/master/text-to-video",
        "Kling 2.1 Master",
        0.28,
        image=False,
        image_endpoint=f"{_KLING21}/master/image-to-video",
    ),
    _kling(f"{_KLING21}/master/image-to-video", "Kling 2.1 Master", 0.28, image=True),
    _kling(f"{_KLING21}/pro/image-to-video", "Kling 2.1 Pro", 0.098, image=True),
    _kling(f"{_KLING21}/standard/image-to-video", "Kling 2.1 Standard", 0.056, image=True),
    _seedance2(
        f"{_SEEDANCE2}/text-to-video",
        0.3034,
        image=False,
        image_endpoint=f"{_SEEDANCE2}/image-to-video",
    ),
    _seedance2(f"{_SEEDANCE2}/image-to-video", 0.3034, image=True, image_endpoint=None),
    _seedance2(
        f"{_SEEDANCE2}/fast/text-to-video",
        0.2419,
        image=False,
        image_endpoint=f"{_SEEDANCE2}/fast/image-to-video",
    ),
    _seedance2(f"{_SEEDANCE2}/fast/image-to-video", 0.2419, image=True, image_endpoint=None),
    _seedance1(
        f"{_SEEDANCE1}/text-to-video", image=False, image_endpoint=f"{_SEEDANCE1}/image-to-video"
    ),
    _seedance1(f"{_SEEDANCE1}/image-to-video", image=True, image_endpoint=None),
    _hailuo23(
        f"{_HAILUO23}/standard/text-to-video",
        pro=False,
        image=False,
        image_endpoint=f"{_HAILUO23}/standard/image-to-video",
    ),
    _hailuo23(f"{_HAILUO23}/standard/image-to-video", pro=False, image=True, image_endpoint=None),
    _hailuo23(
        f"{_HAILUO23}/pro/text-to-video",
        pro=True,
        image=False,
        image_endpoint=f"{_HAILUO23}/pro/image-to-video",
    ),
    _hailuo23(f"{_HAILUO23}/pro/image-to-video", pro=True, image=True, image_endpoint=None),
    FalModel(
        name="fal-ai/minimax/hailuo-02/standard/image-to-video",
        family="MiniMax Hailuo 02",
        image_field="image_url",
        durations=(6, 10),
        default_duration=6,
        max_prompt=2000,
        # fal spells these "512P" and "768P" (no soravideo name): set
        # provider_options["resolution"]; 768P is fal's default.
        extra_resolutions=("512P", "768P"),
        default_resolution="768P",
        usd_per_second={"768P": 0.045},
    ),
    _pika(f"{_PIKA}/text-to-video", image=False, image_endpoint=f"{_PIKA}/image-to-video"),
    _pika(f"{_PIKA}/image-to-video", image=True),
]

FAL_MODELS: Mapping[str, FalModel] = {model.name: model for model in _TABLE}
"""The video endpoints this transport knows, by endpoint id. Other ids are sent as given."""


# ---------------------------------------------------------------------------- addressing


def app_of(endpoint: str) -> str:
    """Return the part of an endpoint id fal addresses its requests by.

    As ``fal-client``'s ``AppId.from_endpoint_id``: the first two segments
    (``fal-ai/kling-video``), three under a namespace (``workflows/owner/alias``); a
    one-segment ``123-my-app`` is ``123/my-app``.

    Raises:
        ValueError: The id has no owner/alias form.
    """
    parts = endpoint.strip("/").split("/")
    if len(parts) == 1:
        match = _NUMBERED_APP.match(parts[0])
        if match is None:
            raise ValueError(f"{endpoint!r} is not a fal endpoint id (owner/alias[/path])")
        return f"{match[1]}/{match[2]}"
    if parts[0] in _APP_NAMESPACES and len(parts) >= 3:
        return "/".join(parts[:3])
    return "/".join(parts[:2])


def _id_problem(value: str) -> str | None:
    """Return why ``value`` cannot be part of a remote id (one URL path segment), or None.

    The shared rule of every transport (`remote_id_problem`),
    plus no ``:``, which joins the parts of a fal remote id.
    """
    problem = remote_id_problem(value)
    if problem is not None:
        return problem
    if len(value) > _MAX_REMOTE_ID:
        return f"is longer than {_MAX_REMOTE_ID} characters"
    if ":" in value:
        return "contains ':', which separates the parts of a fal remote id"
    return None


def fal_remote_id(app: str, request_id: str) -> str:
    """Return the remote id of fal request ``request_id`` of ``app``: ``owner:alias:id``.

    Raises:
        ValueError: ``app`` or ``request_id`` cannot be part of a URL path segment.
    """
    parts = app.split("/")
    for part in parts:
        if _id_problem(part) is not None or not _SEGMENT.match(part):
            raise ValueError(f"{app!r} is not a fal app (owner/alias)")
    problem = _id_problem(request_id)
    if problem is not None:
        raise ValueError(f"request id {request_id!r} {problem}")
    return ":".join([*parts, request_id])


def split_remote_id(remote_id: str) -> tuple[str, str]:
    """Return ``(app, request_id)`` of a remote id made by `fal_remote_id`.

    Raises:
        ValueError: ``remote_id`` is not ``owner:alias:request_id``.
    """
    parts = remote_id.split(":")
    if len(parts) < 3:
        raise ValueError(f"{remote_id!r} is not a fal remote id (owner:alias:request_id)")
    app = "/".join(parts[:-1])
    fal_remote_id(app, parts[-1])  # checks every part
    return app, parts[-1]


# ---------------------------------------------------------------------------- prices


def _seconds(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        text = value.strip().lower().removesuffix("s")
        return int(text) if text.isdigit() else None
    return None


def price_of_body(
    spec: FalModel | None, body: Mapping[str, Any], *, per_second: float | None = None
) -> float | None:
    """Return the USD price of creating ``body`` on ``spec``'s endpoint, or ``None``.

    The price is that of what is sent: the ``duration``, ``resolution`` and
    ``generate_audio`` in ``body``, else the endpoint's defaults.

    Args:
        spec: The endpoint (``None``: an endpoint this module does not know).
        body: The create's body.
        per_second: A USD-per-second rate that wins over the table (your own figure).

    Returns:
        The price, rounded to the micro-dollar, or ``None`` when it is not known.
    """
    seconds = _seconds(body.get("duration"))
    if seconds is None and spec is not None:
        seconds = spec.default_duration
    if per_second is not None:
        return None if seconds is None else round(per_second * seconds, 6)
    if spec is None:
        return None
    if spec.usd_per_video:
        flat = spec.usd_per_video.get(seconds or 0, spec.usd_per_video.get(0))
        return None if flat is None else round(flat, 6)
    resolution = str(body.get("resolution") or spec.default_resolution or "")
    audio = spec.audio is not None and body.get("generate_audio", spec.audio) is not False
    table = (
        spec.usd_per_second_audio if audio and spec.usd_per_second_audio else spec.usd_per_second
    )
    rate = table.get(resolution, table.get(""))
    if rate is None or seconds is None:
        return None
    return round(rate * seconds, 6)
