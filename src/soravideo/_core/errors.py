"""The soravideo exception tree.

Every error raised by soravideo derives from [`SoraVideoError`][soravideo.SoraVideoError] and
carries data, not just a message. Errors from httpx, sqlite3 or psycopg never leak out unwrapped:
they are mapped once, at the boundary, and chained with ``from``.

::

    SoraVideoError
    ├── ValidationError              .errors: every bad field (FieldError: field, message)
    ├── NotFoundError
    │   ├── JobNotFoundError         .job_id
    │   └── BatchNotFoundError       .batch_id
    ├── JobStateError                .job_id, .status
    ├── JobTimeoutError              .job_id, .timeout   (also a builtin TimeoutError)
    ├── BudgetExceededError          .estimated_usd, .budget_usd
    ├── WebhookVerificationError     .provider, .reason; a delivery refused, nothing applied
    ├── RepositoryError
    │   └── ConflictError            .job_id, .expected, .actual
    └── ProviderError                .status_code, .request_id, .body, .provider
        ├── DownloadError            .path; content that failed its checks, no file kept
        ├── AuthenticationError      401
        ├── PermissionDeniedError    403
        ├── RateLimitError           429, .retry_after
        ├── ProviderUnavailableError 5xx
        └── ProviderConnectionError  no answer
            ├── ProviderTimeoutError
            └── AmbiguousSubmissionError   a create may or may not have reached the provider
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import attrs

__all__ = [
    "AmbiguousSubmissionError",
    "AuthenticationError",
    "BatchNotFoundError",
    "BudgetExceededError",
    "ConflictError",
    "DownloadError",
    "FieldError",
    "JobNotFoundError",
    "JobStateError",
    "JobTimeoutError",
    "NotFoundError",
    "PermissionDeniedError",
    "ProviderConnectionError",
    "ProviderError",
    "ProviderTimeoutError",
    "ProviderUnavailableError",
    "RateLimitError",
    "RepositoryError",
    "SoraVideoError",
    "ValidationError",
    "WebhookVerificationError",
]


@attrs.frozen(kw_only=True)
class FieldError:
    """One bad field: its path (``prompt``, ``videos[3].duration``, ``row 4: prompt``) and why."""

    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.field}: {self.message}"


class SoraVideoError(Exception):
    """Base class of every error soravideo raises."""


class ValidationError(SoraVideoError, ValueError):
    """The input is invalid. ``errors`` names every bad field; nothing was stored or sent."""

    def __init__(self, errors: Iterable[FieldError], *, message: str | None = None) -> None:
        self.errors: tuple[FieldError, ...] = tuple(errors)
        lines = "; ".join(str(e) for e in self.errors)
        head = message or f"{len(self.errors)} invalid field(s)"
        super().__init__(f"{head}: {lines}" if lines else head)

    @property
    def fields(self) -> tuple[str, ...]:
        """The paths of the bad fields, in order."""
        return tuple(e.field for e in self.errors)


class NotFoundError(SoraVideoError, LookupError):
    """Something asked for by id does not exist."""


class JobNotFoundError(NotFoundError):
    """No job with this id is in the ledger."""

    def __init__(self, job_id: str) -> None:
        self.job_id = job_id
        super().__init__(f"job {job_id!r} not found")


class BatchNotFoundError(NotFoundError):
    """No batch with this id is in the ledger."""

    def __init__(self, batch_id: str) -> None:
        self.batch_id = batch_id
        super().__init__(f"batch {batch_id!r} not found")


class JobStateError(SoraVideoError):
    """The job is not in a state that allows this operation."""

    def __init__(self, job_id: str, status: str, message: str) -> None:
        self.job_id = job_id
        self.status = status
        super().__init__(f"job {job_id!r} is {status}: {message}")


class JobTimeoutError(SoraVideoError, TimeoutError):
    """A wait reached its deadline before the job became terminal."""

    def __init__(self, job_id: str, timeout: float, *, status: str | None = None) -> None:
        self.job_id = job_id
        self.timeout = timeout
        self.status = status
        extra = f" (still {status})" if status else ""
        super().__init__(f"job {job_id!r} not finished after {timeout:g} s{extra}")


class BudgetExceededError(SoraVideoError):
    """The estimated cost is above the budget; nothing was stored or sent."""

    def __init__(self, estimated_usd: float, budget_usd: float) -> None:
        self.estimated_usd = estimated_usd
        self.budget_usd = budget_usd
        super().__init__(
            f"estimated cost ${estimated_usd:.2f} exceeds the budget of ${budget_usd:.2f}"
        )


class WebhookVerificationError(SoraVideoError):
    """A webhook delivery failed verification: a bad or missing signature, a timestamp more
    than five minutes old (or ahead), or a body that is not the provider's event. Nothing
    was recorded or applied; answer the provider with a 4xx (``400`` or ``401``).

    Args:
        message: What was wrong (never the secret or the signature).
        provider: The provider the delivery claimed to come from.
        reason: A short code: ``signature``, ``timestamp``, ``headers``, ``body``, ``keys``
            (the provider's public keys could not be read) or ``not_configured``.
    """

    def __init__(self, message: str, *, provider: str, reason: str) -> None:
        super().__init__(message)
        self.provider = provider
        self.reason = reason


class RepositoryError(SoraVideoError):
    """The ledger failed (I/O error, corrupt file, lost connection)."""


class ConflictError(RepositoryError):
    """A compare-and-set update found the job in another state (or leased by another owner)."""

    def __init__(
        self,
        job_id: str,
        *,
        expected: str | None = None,
        actual: str | None = None,
        message: str = "",
    ) -> None:
        self.job_id = job_id
        self.expected = expected
        self.actual = actual
        text = message or f"job {job_id!r}: expected status {expected}, found {actual}"
        super().__init__(text)


class ProviderError(SoraVideoError):
    """The provider answered with an error, or could not be reached."""

    def __init__(
        self,
        message: str,
        *,
        status_code: int | None = None,
        request_id: str | None = None,
        body: Mapping[str, Any] | str | None = None,
        provider: str | None = None,
        code: str | None = None,
    ) -> None:
        self.message = message
        self.status_code = status_code
        self.request_id = request_id
        self.body = body
        self.provider = provider
        self.code = code
        parts = [message]
        if status_code is not None:
            parts.append(f"status {status_code}")
        if request_id:
            parts.append(f"request id {request_id}")
        super().__init__(" | ".join(parts))


class DownloadError(ProviderError):
    """A download's content failed its checks: nothing was kept at ``path``.

    The provider answered, but not with the media asked for, or not all of it, or more
    than [`Settings.max_download_bytes`][soravideo.Settings] allows.
    The temporary file is removed, and a file that was at ``path`` before is left as it
    was. ``code`` says which check failed:

    - ``"content_type"``: the answer is labelled as something else (``text/html``,
      ``application/json`` …);
    - ``"not_media"``: its first bytes are not the container asked for (an MP4/MOV
      ``ftyp`` box for a video; WebP, PNG or JPEG for an image variant);
    - ``"incomplete_download"``: the body ended before its ``Content-Length``, or, without
      one, before the container's own structure says the file ends;
    - ``"length_mismatch"``: the body ran past its ``Content-Length``;
    - ``"too_large"``: the ``Content-Length``, or the bytes received so far, exceed
      ``max_download_bytes``.

    A connection that breaks mid-download is a
    [`ProviderConnectionError`][soravideo.ProviderConnectionError] instead; it leaves no file
    either.
    """

    def __init__(self, message: str, *, path: str | None = None, **kwargs: Any) -> None:
        self.path = path
        super().__init__(message, **kwargs)


class AuthenticationError(ProviderError):
    """The API key was missing or rejected (401). Never retried."""


class PermissionDeniedError(ProviderError):
    """The key may not do this (403). Never retried."""


class RateLimitError(ProviderError):
    """The provider said slow down (429). ``retry_after`` is its hint in seconds, if any.

    From the built-in transports the hint is capped at the retry policy's
    ``retry_after_cap`` (a client's ``max_retry_after``, 300 s by default): an absurd
    ``Retry-After`` never reaches the caller as is.
    """

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs: Any) -> None:
        self.retry_after = retry_after
        super().__init__(message, **kwargs)


class ProviderUnavailableError(ProviderError):
    """The provider failed on its side (5xx)."""


class ProviderConnectionError(ProviderError):
    """The provider could not be reached, or the connection broke."""


class ProviderTimeoutError(ProviderConnectionError):
    """The provider did not answer in time."""


class AmbiguousSubmissionError(ProviderConnectionError):
    """A create may have reached the provider: it must be reconciled, never blindly re-sent."""
