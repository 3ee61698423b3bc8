"""The provider seam: a provider-neutral protocol every transport implements.

A transport speaks one provider's API. It maps the neutral
[`CreateVideoRequest`][soravideo.CreateVideoRequest] onto that API, maps the provider's statuses
onto [`JobStatus`][soravideo.JobStatus] and its errors onto the soravideo error tree (at the
boundary, chained with ``from``), and retries only what is safe. It never decides a job's fate: the
runner does.
"""

from __future__ import annotations

import unicodedata
from collections.abc import AsyncIterator, Collection, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from datetime import datetime
from typing import Any, Literal, Protocol, runtime_checkable
from urllib.parse import quote

import attrs

from .._core.errors import FieldError, ProviderError
from .._core.models import CreateVideoRequest, JobError, JobStatus

__all__ = [
    "INVALID_REMOTE_ID",
    "MAX_REMOTE_ID_LENGTH",
    "Capabilities",
    "ContentStream",
    "ModelInfo",
    "RemoteJob",
    "SupportsFetchSeen",
    "Transport",
    "checked_remote_id",
    "model_problems",
    "remote_id_problem",
    "remote_id_segment",
]

MAX_REMOTE_ID_LENGTH = 256
INVALID_REMOTE_ID = "invalid_remote_id"
"""The ``code`` of the [`ProviderError`][soravideo.ProviderError] a refused remote id raises."""


def remote_id_problem(value: object) -> str | None:
    """Return why ``value`` cannot be a provider's id for a job, or ``None`` when it can.

    A remote id goes into URL paths (``/videos/{id}``, ``/tasks/{id}``), so it must be one
    path segment that means nothing else: text of 1 to 256 characters, not ``.`` or
    ``..`` (dot segments, which HTTP clients resolve, so ``/videos/..`` is ``/``), with no
    ``/`` or ``\\``, and no whitespace, control, format, surrogate, private-use or
    unassigned characters. Every transport checks the ids it is given and every id it
    reads from a provider's answer with this one rule.
    """
    if not isinstance(value, str):
        return f"is not text ({type(value).__name__})"
    if not value:
        return "is empty"
    if len(value) > MAX_REMOTE_ID_LENGTH:
        return f"is longer than {MAX_REMOTE_ID_LENGTH} characters"
    if value in (".", ".."):
        return "is a dot segment, which would address another path"
    if "/" in value or "\\" in value:
        return "contains a path separator"
    if value.isascii() and value.isprintable():
        # The usual id, decided without a look at each character: printable ASCII holds
        # no control character, and the only whitespace in it is the space.
        return "contains a space or control character (U+0020)" if " " in value else None
    for char in value:
        if char.isspace() or unicodedata.category(char)[0] == "C":
            return f"contains a space or control character (U+{ord(char):04X})"
    return None


def _shown(value: object) -> str:
    text = ascii(value)
    return text if len(text) <= 80 else f"{text[:77]}..."


def checked_remote_id(
    value: object,
    *,
    provider: str,
    context: str,
    status_code: int | None = None,
    request_id: str | None = None,
    creating: bool = False,
    shown: object = None,
) -> str:
    """Return ``value`` when it is a usable remote id; raise a
    [`ProviderError`][soravideo.ProviderError] if not.

    Args:
        value: The id, as given or as the provider answered it.
        provider: The transport's name, for the message.
        context: What held the id (``"the create answer"``, ``"GET /videos/{id}"``).
        status_code / request_id: Of the answer that carried the id, when there was one.
        creating: The id came with a create's answer: the message says that a video may
            have been made that the library cannot address.
        shown: What the message shows instead of ``value`` (the id with secrets scrubbed).

    Raises:
        ProviderError: With ``code="invalid_remote_id"`` (not retryable, not ambiguous:
            the runner fails a create answered with such an id rather than sending it
            again, and no request is ever made with it).
    """
    problem = remote_id_problem(value)
    if problem is None:
        return str(value)
    note = (
        "; the provider may have made a video under it that soravideo cannot address: "
        "check the provider's dashboard before creating this video again"
        if creating
        else "; it is never used in a request"
    )
    raise ProviderError(
        f"{provider}: {context}: remote id {_shown(value if shown is None else shown)} "
        f"{problem}{note}",
        status_code=status_code,
        request_id=request_id,
        provider=provider,
        code=INVALID_REMOTE_ID,
    )


def remote_id_segment(value: object, *, provider: str) -> str:
    """Return a remote id checked and percent-quoted, ready to be one URL path segment.

    Raises:
        ProviderError: ``code="invalid_remote_id"``, before any request is made.
    """
    checked = checked_remote_id(value, provider=provider, context="refusing to build a URL")
    return quote(checked, safe="")


@attrs.frozen(kw_only=True)
class ModelInfo:
    """What one model accepts. ``None`` means "not known: let the provider decide".

    Examples:
        ```python
        from soravideo.transports import SoraTransport

        info = SoraTransport(api_key="sk-...").capabilities.models["sora-2"]
        print(info.durations, info.default_size, info.price_per_second_usd)  # (4, 8, 12, 16, 20) 720x1280 0.1
        ```
    """

    name: str
    durations: tuple[int, ...] | None = None
    sizes: tuple[str, ...] | None = None
    default_duration: int | None = None
    default_size: str | None = None
    price_per_second_usd: float | None = None
    accepts_image: bool = True


@attrs.frozen(kw_only=True)
class Capabilities:
    """What a provider can do, so the core adapts instead of assuming.

    Examples:
        ```python
        from soravideo.transports import Capabilities, ModelInfo

        # What a transport of your own declares (its `capabilities` property):
        capabilities = Capabilities(
            models={"acme-1": ModelInfo(name="acme-1", durations=(5, 10), price_per_second_usd=0.05)},
            default_model="acme-1",
            can_cancel=False,
            result_kind="url",
            allows_unknown_models=False,
        )
        print(capabilities.models[capabilities.default_model].durations)  # (5, 10)
        ```
    """

    models: Mapping[str, ModelInfo]
    default_model: str
    can_cancel: bool = True
    can_list: bool = False
    can_remix: bool = False
    result_kind: Literal["bytes", "url"] = "bytes"
    variants: tuple[str, ...] = ("video",)
    min_poll_interval: float = 0.0
    allows_unknown_models: bool = True
    # Whether a create re-sent with the same Idempotency-Key returns the original job. When
    # false, a create whose outcome is unknown is never re-sent: the one job the provider's
    # list shows for it is adopted (where it can list), else the job is failed, so that no
    # video is ever made twice.
    idempotent_creates: bool = True
    # [W2-6 replicate] Seconds a finished job's result stays downloadable, where the
    # provider deletes it soon (Replicate: an hour). The engine then warns about each job
    # that completes with no download_dir to save it in.
    results_expire_after: float | None = None
    # Whether ``Transport.cancel`` always answers ``"ended"`` for a job that had already
    # ended there, and never destroys a finished video (fal, Gemini, Replicate, Runway). The
    # engine then asks the provider before it writes a cancel, and a video that finished
    # unseen is recorded ``completed``, not hidden behind ``cancelled``. False (a cancel that
    # deletes, as the Sora protocol's does): the cancel is written first.
    cancel_reports_ended: bool = False


def model_problems(
    capabilities: Capabilities, model: str | None, path: str = ""
) -> list[FieldError]:
    """Return the error for a model the provider's catalogue does not list (empty otherwise).

    No model (the provider's default) and a transport that passes unknown models through on
    purpose (``allows_unknown_models``, its ``allow_unknown_models=True``) are fine.

    Args:
        capabilities: The transport's capabilities (its catalogue: ``models``).
        model: The request's model.
        path: Prefix for the field name (``videos[3]``).

    Returns:
        One [`FieldError`][soravideo.FieldError] naming ``model`` and the models listed, or none.
    """
    if model is None or not isinstance(model, str) or capabilities.allows_unknown_models:
        return []
    if model in capabilities.models:
        return []
    listed = ", ".join(capabilities.models)
    return [
        FieldError(
            field=f"{path}.model" if path else "model",
            message=(
                f"unknown model {model!r}; this provider's models: {listed} (build the "
                "transport with allow_unknown_models=True to send other names as they are)"
            ),
        )
    ]


@attrs.frozen(kw_only=True)
class RemoteJob:
    """A provider's view of one job, mapped to neutral terms.

    Args:
        remote_id: The provider's id.
        status: Mapped status; ``PENDING`` is never used here: queued at the provider is
            ``PROCESSING`` for us.
        progress: 0–100.
        provider_status: The provider's own status word (``queued``, ``THROTTLED`` …).
        error: Why it failed, when it failed.
        expires_at: When the result stops being downloadable.
        cost_usd / cost_credits: What the provider says it costs, if it says.
        urls: Result URLs by variant, for providers that deliver URLs.
        poll_after: The provider's hint of when to ask again (seconds), if any.
        created_at: When the provider created it.
        queue_position: How many requests wait ahead of this one in the provider's own
            queue (``0``: next), where the provider queues excess work instead of
            refusing it (fal); ``None`` when it says nothing. The engine reads it as
            back-pressure, as it reads a 429.
        raw: The payload as received (never holds secrets).
    """

    remote_id: str
    status: JobStatus
    progress: int = 0
    provider_status: str = ""
    error: JobError | None = None
    expires_at: datetime | None = None
    cost_usd: float | None = None
    cost_credits: float | None = None
    urls: Mapping[str, str] = attrs.field(factory=dict)
    poll_after: float | None = None
    created_at: datetime | None = None
    queue_position: int | None = None
    raw: Mapping[str, Any] = attrs.field(factory=dict, repr=False)


class ContentStream(Protocol):
    """An open download: its headers and an async iterator of byte chunks."""

    content_type: str | None
    content_length: int | None

    def aiter_bytes(self) -> AsyncIterator[bytes]:
        """Yield the body in chunks; the whole video is never held in memory."""
        ...


@runtime_checkable
class Transport(Protocol):
    """One provider's API, behind a neutral interface. All I/O methods are async."""

    name: str

    @property
    def capabilities(self) -> Capabilities:
        """What this provider can do."""
        ...

    def validate(self, request: CreateVideoRequest, path: str = "") -> list[FieldError]:
        """Return every provider-specific problem with ``request`` (empty when fine)."""
        ...

    def estimate_cost(self, request: CreateVideoRequest) -> float | None:
        """Return the expected price in USD from the price table, or ``None`` if unknown."""
        ...

    async def submit(self, request: CreateVideoRequest, *, idempotency_key: str) -> RemoteJob:
        """Create the video at the provider.

        Raises:
            AmbiguousSubmissionError: the request may have reached the provider (timeout or
                broken connection after sending); the caller must reconcile, not re-send.
        """
        ...

    async def fetch(self, remote_id: str) -> RemoteJob:
        """Return the provider's current view of one job."""
        ...

    async def fetch_many(self, remote_ids: Sequence[str]) -> dict[str, RemoteJob]:
        """Refresh many jobs, in one request where the provider can list. Missing ids are left out."""
        ...

    async def list_recent(self, *, limit: int = 100) -> list[RemoteJob]:
        """Return the newest remote jobs (for reconciling an ambiguous create); ``[]`` if unsupported.

        A transport that lists may also define ``describes(remote, request) -> bool``:
        whether a listed job is what ``submit(request)`` would have made (prompt, model,
        duration, size …). Reconciliation then adopts only a job it describes; without it,
        the prompt alone (``remote.raw["prompt"]``) must match.
        """
        ...

    async def cancel(self, remote_id: str) -> Literal["ended"] | None:
        """Cancel (or delete) a remote job. A job already gone is not an error.

        Returns:
            ``"ended"`` when the provider answers that the job had already ended (completed
            or failed) and there was nothing left to stop: its video, if it made one, is
            finished and billed, and the engine records that end instead of the cancel.
            ``None`` otherwise (stopped, deleted, gone, or the provider does not say).

        A transport whose cancel always says so, and never destroys a finished video, may
        also declare ``Capabilities(cancel_reports_ended=True)``: the engine then stops a
        job's recorded video before it writes the cancel, and a video that had finished
        unseen is recorded ``completed`` (the cancel raises ``JobStateError``), never
        ``cancelled``. Without it the cancel is written first, as for a provider whose
        cancel deletes. [`FalTransport`][soravideo.transports.FalTransport],
        [`GeminiTransport`][soravideo.transports.GeminiTransport],
        [`ReplicateTransport`][soravideo.transports.ReplicateTransport] and
        [`RunwayTransport`][soravideo.transports.RunwayTransport] declare it. A
        transport that cannot cancel at all (``can_cancel=False``) is never asked to: the
        engine reads the job (``fetch``) before it writes a cancel instead.
        """
        ...

    def open_content(
        self, remote_id: str, variant: str = "video"
    ) -> AbstractAsyncContextManager[ContentStream]:
        """Open a streamed download of a finished job's content."""
        ...

    async def remix(self, remote_id: str, prompt: str, *, idempotency_key: str) -> RemoteJob:
        """Create a new video from a finished one (where ``capabilities.can_remix``)."""
        ...

    async def ping(self) -> None:
        """Make one cheap authenticated request; raise a ``ProviderError`` if it fails."""
        ...

    async def aclose(self) -> None:
        """Close connections the transport owns. Idempotent."""
        ...


@runtime_checkable
class SupportsFetchSeen(Protocol):
    """A transport whose refresh of many jobs also answers for the other jobs it saw.

    Optional: a [`Transport`][soravideo.transports.Transport] need not have it. A transport
    that refreshes many jobs by reading list pages (``capabilities.can_list``) reads on
    those pages many jobs it was not asked about. With this method it hands back what the
    pages say of the jobs the engine polls (``watched``) as well; the engine applies those
    answers as it applies the ones it asked for (the same compare-and-set writes, each job's
    next poll scheduled from what it learnt), so a job seen on a page is not asked about
    again soon. Without it, the engine calls ``fetch_many`` and asks about each job when its
    own poll falls due. [`SoraTransport`][soravideo.transports.SoraTransport] and
    [`ReplicateTransport`][soravideo.transports.ReplicateTransport] have it.

    Examples:
        ```python
        from soravideo.transports import RunwayTransport, SoraTransport, SupportsFetchSeen

        print(isinstance(SoraTransport(api_key="sk-..."), SupportsFetchSeen))  # True
        print(isinstance(RunwayTransport(api_key="key_..."), SupportsFetchSeen))  # False
        ```
    """

    async def fetch_many_seen(
        self, remote_ids: Sequence[str], *, watched: Collection[str]
    ) -> dict[str, RemoteJob]:
        """Refresh ``remote_ids`` as ``fetch_many`` does, and return also what the pages read
        for them said of any job in ``watched``.

        No request is made for ``watched`` alone: the pages read, and when to stop reading
        them, are those ``fetch_many(remote_ids)`` would read; a watched job that none of
        them shows is left out.

        Args:
            remote_ids: The provider's ids asked about (duplicates are fine).
            watched: Ids of other jobs whose answers are wanted if a page shows them.

        Returns:
            The jobs by id: first each of ``remote_ids`` the provider knows (as
            ``fetch_many`` returns them), then each of ``watched`` seen on a page read.

        Raises:
            ProviderError: As ``fetch_many`` raises.
        """
        ...
