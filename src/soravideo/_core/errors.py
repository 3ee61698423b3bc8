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
    """One bad field: its path (``prompt``, ``videos[3].duration``, ``row 4: prompt``) and why.

    Examples:
        ```python
        for problem in client.videos.validate(sv.CreateVideoRequest(prompt="")):
            print(problem.field, "-", problem.message)  # prompt - …
        ```
    """

    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.field}: {self.message}"


class SoraVideoError(Exception):
    """Base class of every error soravideo raises.

    Examples:
        ```python
        try:
            await client.videos.get_job("job_18eec1e45722986c9df33f7a953c")
        except sv.SoraVideoError as error:  # anything soravideo raises
            print(type(error).__name__, error)  # JobNotFoundError job '…' not found
        ```
    """


class ValidationError(SoraVideoError, ValueError):
    """The input is invalid. ``errors`` names every bad field; nothing was stored or sent.

    Examples:
        ```python
        try:
            await client.videos.create_video(sv.CreateVideoRequest(prompt="", duration=-1))
        except sv.ValidationError as error:  # nothing was stored or sent
            print(error.fields)  # ('prompt', 'duration')
        ```
    """

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
    """Something asked for by id does not exist.

    Examples:
        ```python
        try:
            await client.batches.get_batch_status("batch_18eec1e457217f281ac5a61e5937")
        except sv.NotFoundError as error:  # a job or a batch: also a LookupError
            print(error)  # batch '…' not found
        ```
    """


class JobNotFoundError(NotFoundError):
    """No job with this id is in the ledger.

    Examples:
        ```python
        try:
            await client.videos.get_job("job_18eec1e45722986c9df33f7a953c")
        except sv.JobNotFoundError as error:
            print(error.job_id)
        ```
    """

    def __init__(self, job_id: str) -> None:
        self.job_id = job_id
        super().__init__(f"job {job_id!r} not found")


class BatchNotFoundError(NotFoundError):
    """No batch with this id is in the ledger.

    Examples:
        ```python
        try:
            await client.batches.cancel_batch("batch_18eec1e457217f281ac5a61e5937")
        except sv.BatchNotFoundError as error:
            print(error.batch_id)
        ```
    """

    def __init__(self, batch_id: str) -> None:
        self.batch_id = batch_id
        super().__init__(f"batch {batch_id!r} not found")


class JobStateError(SoraVideoError):
    """The job is not in a state that allows this operation.

    Examples:
        ```python
        job = await client.videos.create_video(sv.CreateVideoRequest(prompt="A slow sunrise"))
        try:
            await client.videos.get_video_result(job.id)  # not made yet
        except sv.JobStateError as error:
            print(error.status)  # pending
        ```
    """

    def __init__(self, job_id: str, status: str, message: str) -> None:
        self.job_id = job_id
        self.status = status
        super().__init__(f"job {job_id!r} is {status}: {message}")


class JobTimeoutError(SoraVideoError, TimeoutError):
    """A wait reached its deadline before the job became terminal.

    Examples:
        ```python
        job = await client.videos.create_video(sv.CreateVideoRequest(prompt="An epic", duration=20))
        try:
            await client.videos.wait_for_job(job.id, timeout=1)  # simulated seconds here
        except sv.JobTimeoutError as error:  # also a TimeoutError; the job goes on
            print(error.job_id == job.id, error.timeout, error.status)  # True 1.0 processing
        ```
    """

    def __init__(self, job_id: str, timeout: float, *, status: str | None = None) -> None:
        self.job_id = job_id
        self.timeout = timeout
        self.status = status
        extra = f" (still {status})" if status else ""
        super().__init__(f"job {job_id!r} not finished after {timeout:g} s{extra}")


class BudgetExceededError(SoraVideoError):
    """The estimated cost is above the budget; nothing was stored or sent.

    Examples:
        ```python
        videos = [sv.CreateVideoRequest(prompt=f"Scene {n}", model="sora-2", duration=8) for n in range(10)]
        try:
            await client.batches.create_batch(sv.BatchVideoRequest(videos=videos), budget_usd=1.0)
        except sv.BudgetExceededError as error:  # nothing was stored or sent
            print(error.estimated_usd, error.budget_usd)  # 8.0 1.0
        ```
    """

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

    Examples:
        ```python
        try:
            await client.webhooks.handle(provider="sora", headers={}, body=b"{}")
        except sv.WebhookVerificationError as exc:
            print(exc.provider, exc.reason)  # sora not_configured: answer 401, nothing applied
        ```
    """

    def __init__(self, message: str, *, provider: str, reason: str) -> None:
        super().__init__(message)
        self.provider = provider
        self.reason = reason


class RepositoryError(SoraVideoError):
    """The ledger failed (I/O error, corrupt file, lost connection).

    Examples:
        ```python
        try:
            page = await client.videos.list_jobs()
        except sv.RepositoryError as error:  # the ledger failed: disk, file, connection
            print("ledger unavailable:", error)
        ```
    """


class ConflictError(RepositoryError):
    """A compare-and-set update found the job in another state (or leased by another owner).

    Examples:
        ```python
        request = sv.BatchVideoRequest(videos=[sv.CreateVideoRequest(prompt="A bee")])
        other = sv.BatchVideoRequest(videos=[sv.CreateVideoRequest(prompt="A wasp")])
        await client.batches.create_batch(request, key="insects")
        try:
            await client.batches.create_batch(other, key="insects")  # the key is taken
        except sv.ConflictError as error:
            print(error)
        ```
    """

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
    """The provider answered with an error, or could not be reached.

    Examples:
        ```python
        job = await client.videos.create_video(sv.CreateVideoRequest(prompt="A city at night"))
        await client.videos.wait_for_job(job.id)
        client.fake.inject(status=403, match="GET /videos/*/content")
        try:
            await client.videos.download_video(job.id, "videos/")
        except sv.ProviderError as error:  # any provider failure
            print(error.provider, error.status_code, error.code, error.request_id)  # sora 403 …
        ```
    """

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

    Examples:
        ```python
        job = await client.videos.create_video(sv.CreateVideoRequest(prompt="A glass of water"))
        await client.videos.wait_for_job(job.id)
        client.fake.hostile("not_video", match="GET /videos/*/content")  # answers a web page
        try:
            await client.videos.download_video(job.id, "videos/")
        except sv.DownloadError as error:  # nothing was kept
            print(error.code, error.path)  # not_media videos/job_….mp4
        ```
    """

    def __init__(self, message: str, *, path: str | None = None, **kwargs: Any) -> None:
        self.path = path
        super().__init__(message, **kwargs)


class AuthenticationError(ProviderError):
    """The API key was missing or rejected (401). Never retried.

    Examples:
        ```python
        try:
            sv.AsyncSoraVideo()  # no api_key= and no OPENAI_API_KEY: refused at once
        except sv.AuthenticationError as error:
            print(error)  # names the variables it looked for
        ```
    """


class PermissionDeniedError(ProviderError):
    """The key may not do this (403). Never retried.

    Examples:
        ```python
        job = await client.videos.create_video(sv.CreateVideoRequest(prompt="A locked door"))
        await client.videos.wait_for_job(job.id)
        client.fake.inject(status=403, match="GET /videos/*/content")
        try:
            await client.videos.download_video(job.id, "videos/")
        except sv.PermissionDeniedError as error:  # never retried
            print(error.status_code)  # 403
        ```
    """


class RateLimitError(ProviderError):
    """The provider said slow down (429). ``retry_after`` is its hint in seconds, if any.

    From the built-in transports the hint is capped at the retry policy's
    ``retry_after_cap`` (a client's ``max_retry_after``, 300 s by default): an absurd
    ``Retry-After`` never reaches the caller as is.

    Examples:
        ```python
        import httpx
        from soravideo.testing import FakeSora
        from soravideo.transports import SoraTransport

        fake = FakeSora()
        fake.inject(status=429, retry_after=30)  # the provider's next answer
        url = "http://fakesora.invalid/v1"
        http = httpx.AsyncClient(transport=fake.http_transport(), base_url=url)
        transport = SoraTransport(base_url=url, api_key="sk-test", http_client=http, max_retries=0)
        try:
            await transport.list_recent()  # a client retries this first (max_retries)
        except sv.RateLimitError as error:
            print(error.status_code, error.retry_after)  # 429 30.0
        await http.aclose()
        ```
    """

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs: Any) -> None:
        self.retry_after = retry_after
        super().__init__(message, **kwargs)


class ProviderUnavailableError(ProviderError):
    """The provider failed on its side (5xx).

    Examples:
        ```python
        import httpx
        from soravideo.testing import FakeSora
        from soravideo.transports import SoraTransport

        fake = FakeSora()
        fake.inject(status=503)  # the provider's next answer
        url = "http://fakesora.invalid/v1"
        http = httpx.AsyncClient(transport=fake.http_transport(), base_url=url)
        transport = SoraTransport(base_url=url, api_key="sk-test", http_client=http, max_retries=0)
        try:
            await transport.list_recent()  # a client retries this first (max_retries)
        except sv.ProviderUnavailableError as error:
            print(error.status_code)  # 503
        await http.aclose()
        ```
    """


class ProviderConnectionError(ProviderError):
    """The provider could not be reached, or the connection broke.

    Examples:
        ```python
        import httpx
        from soravideo.testing import FakeSora
        from soravideo.transports import SoraTransport

        fake = FakeSora()
        fake.inject(refuse=True)  # the provider's next answer
        url = "http://fakesora.invalid/v1"
        http = httpx.AsyncClient(transport=fake.http_transport(), base_url=url)
        transport = SoraTransport(base_url=url, api_key="sk-test", http_client=http, max_retries=0)
        try:
            await transport.list_recent()  # a client retries this first (max_retries)
        except sv.ProviderConnectionError as error:
            print(error)  # the connection was refused
        await http.aclose()
        ```
    """


class ProviderTimeoutError(ProviderConnectionError):
    """The provider did not answer in time.

    Examples:
        ```python
        job = await client.videos.create_video(sv.CreateVideoRequest(prompt="A slow river"))
        await client.videos.wait_for_job(job.id)
        try:
            await client.videos.download_video(job.id, "videos/")
        except sv.ProviderTimeoutError as error:  # no answer within request_timeout (retried first)
            print("try again later:", error)
        except sv.ProviderConnectionError as error:  # its parent: refused, reset, DNS
            print("unreachable:", error)
        ```
    """


class AmbiguousSubmissionError(ProviderConnectionError):
    """A create may have reached the provider: it must be reconciled, never blindly re-sent.

    Examples:
        ```python
        # The engine handles it: the create is reconciled with the provider, never re-sent blindly.
        client.fake.inject(reset=True, phase="after", match="POST /videos")  # created, answer lost
        job = await client.videos.create_video(sv.CreateVideoRequest(prompt="A one-off"))
        job = await client.videos.wait_for_job(job.id)
        print(job.status, client.fake.created_count())  # completed 1
        print(issubclass(sv.AmbiguousSubmissionError, sv.ProviderConnectionError))  # True
        ```
    """
