"""Provider-agnostic HTTP plumbing shared by the httpx transports.

One :class:`HttpSession` per transport sends every request: it adds the auth headers,
runs the retry policy (:mod:`soravideo._retry`), counts what happened in
:class:`TransportStats`, and maps every failure onto the soravideo error tree once,
chained with ``from``. Secrets given to it are scrubbed from every message and body it
puts into an exception or a log line.

What a failure means for a create: one before any byte could reach the server (connect
error or refused connection, DNS failure, connect or pool timeout) is a
:class:`~soravideo.ProviderConnectionError` (or its timeout subclass), retried by the
policy like any safe request; one after the request may have arrived (read or write
timeout, a broken connection, an unreadable answer) is an
:class:`~soravideo.AmbiguousSubmissionError`, never re-sent here.

Every request carries the session's timeout (``timeout=`` on the request, so it holds for
an injected ``httpx.AsyncClient`` too), and every ``Retry-After`` is capped at the policy's
``retry_after_cap``; a client sets both from its settings through
:meth:`HttpTransport.use_settings`.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any, NoReturn, TypeVar

import anyio
import attrs
import httpx

from .._errors import (
    AmbiguousSubmissionError,
    AuthenticationError,
    PermissionDeniedError,
    ProviderConnectionError,
    ProviderError,
    ProviderTimeoutError,
    ProviderUnavailableError,
    RateLimitError,
)
from .._retry import (
    Decision,
    Failure,
    OnRetry,
    RequestKind,
    RetryAfterCap,
    RetryPolicy,
    call_with_retries,
    classify,
    failure_of,
    parse_retry_after,
)
from .base import RemoteJob, checked_remote_id, remote_id_problem

__all__ = [
    "USER_AGENT",
    "HttpContentStream",
    "HttpSession",
    "TransportStats",
    "describe_error_body",
    "error_from_exception",
    "error_from_response",
    "redact",
    "request_id_of",
]

log = logging.getLogger("soravideo.transports")

USER_AGENT = "soravideo-python"
DEFAULT_TIMEOUT = 60.0
_MAX_BODY_TEXT = 2000
_MAX_REDIRECTS = 5
_REDACTED = "***"
# Shorter "secrets" would scrub ordinary words out of messages; real keys are far longer.
_MIN_SECRET_LENGTH = 4

ErrorDescriber = Callable[[Any], tuple[str | None, str | None]]
"""Turns a parsed error body into ``(message, code)``; either may be ``None``."""


@attrs.define(kw_only=True)
class TransportStats:
    """Counters of one transport's HTTP traffic, for metrics.

    Args:
        requests: HTTP requests sent, retries included.
        errors: Attempts that failed (an error status or no usable answer).
        retries: Attempts repeated after a failure.
        rate_limited: ``429`` answers received.
    """

    requests: int = 0
    errors: int = 0
    retries: int = 0
    rate_limited: int = 0


def redact(value: Any, secrets: Sequence[str]) -> Any:
    """Return ``value`` with every secret replaced by ``***`` in every string it holds.

    Args:
        value: A string, or JSON-like data (dicts, lists) holding strings.
        secrets: The strings to hide (very short ones are ignored).

    Returns:
        A scrubbed copy (the same object when nothing needed scrubbing).
    """
    hidden = [s for s in secrets if s and len(s) >= _MIN_SECRET_LENGTH]
    if not hidden:
        return value
    if isinstance(value, str):
        for secret in hidden:
            value = value.replace(secret, _REDACTED)
        return value
    if isinstance(value, Mapping):
        return {redact(k, hidden): redact(v, hidden) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [redact(v, hidden) for v in value]
    return value


def describe_error_body(body: Any) -> tuple[str | None, str | None]:
    """Return ``(message, code)`` from the common error body shapes.

    Understands ``{"error": {"message", "code", "type"}}`` (OpenAI), ``{"error": "text"}``,
    ``{"message", "code"}`` and ``{"detail": ...}``; a plain text body is its own message.

    Args:
        body: The parsed JSON body, or its text.

    Returns:
        The message and the machine-readable code, each ``None`` when absent.
    """
    if isinstance(body, str):
        return (body.strip() or None), None
    if not isinstance(body, Mapping):
        return None, None
    inner = body.get("error")
    if isinstance(inner, Mapping):
        message = inner.get("message")
        code = inner.get("code") or inner.get("type")
        return (
            str(message) if message else None,
            str(code) if code else None,
        )
    if isinstance(inner, str) and inner:
        code = body.get("code")
        return inner, str(code) if code else None
    message = body.get("message") or body.get("detail")
    code = body.get("code")
    if message is not None and not isinstance(message, str):
        message = json.dumps(message)
    return message or None, str(code) if code else None


def _body_of(response: httpx.Response) -> Mapping[str, Any] | str | None:
    try:
        text = response.text
    except (httpx.ResponseNotRead, UnicodeDecodeError, LookupError):
        return None
    if not text:
        return None
    try:
        parsed = json.loads(text)
    except ValueError:
        return text[:_MAX_BODY_TEXT]
    return parsed if isinstance(parsed, Mapping) else text[:_MAX_BODY_TEXT]


def request_id_of(response: httpx.Response, secrets: Sequence[str] = ()) -> str | None:
    """Return the response's ``x-request-id`` (scrubbed of ``secrets``), if any."""
    value = response.headers.get("x-request-id")
    return redact(value, secrets) if value else None


def _with_note(message: str, note: str) -> str:
    return f"{message}. {note}" if note else message


def error_from_response(
    response: httpx.Response,
    *,
    kind: RequestKind,
    provider: str,
    note: str = "",
    secrets: Sequence[str] = (),
    describe: ErrorDescriber = describe_error_body,
    now: float | None = None,
) -> ProviderError:
    """Map an error answer onto the soravideo tree (raise it ``from`` the HTTP error).

    ``401`` → :class:`AuthenticationError`, ``403`` → :class:`PermissionDeniedError`,
    ``429`` → :class:`RateLimitError` (with ``retry_after``), ``5xx`` →
    :class:`ProviderUnavailableError`, except that a create whose answer leaves its fate
    open (``500``, ``502``, ``504`` …) is an :class:`AmbiguousSubmissionError`; anything
    else → :class:`ProviderError`. Every error carries ``status_code``, ``request_id``
    (``x-request-id``), the parsed ``body``, ``provider`` and ``code``.

    Args:
        response: The answer (its body already read).
        kind: What the request did.
        provider: The transport's name.
        note: A sentence appended to the message (e.g. that the API was shut down).
        secrets: Strings scrubbed from the message and body.
        describe: Extracts ``(message, code)`` from the body.
        now: Current Unix time for ``Retry-After`` dates (``time.time()`` if ``None``).

    Returns:
        The error to raise.
    """
    status = response.status_code
    body = redact(_body_of(response), secrets)
    text, code = describe(body)
    reason = text or response.reason_phrase or "error"
    message = redact(
        _with_note(f"{provider}: {response.request.method} {response.url.path}: {reason}", note),
        secrets,
    )
    fields: dict[str, Any] = {
        "status_code": status,
        "request_id": request_id_of(response, secrets),
        "body": body,
        "provider": provider,
        "code": code,
    }
    if kind is RequestKind.CREATE and classify(kind, status) is Decision.AMBIGUOUS:
        return AmbiguousSubmissionError(
            f"{message} (the create may have happened; reconcile before sending it again)",
            **fields,
        )
    if status == 401:
        return AuthenticationError(message, **fields)
    if status == 403:
        return PermissionDeniedError(message, **fields)
    if status == 429:
        retry_after = parse_retry_after(response.headers, time.time() if now is None else now)
        return RateLimitError(message, retry_after=retry_after, **fields)
    if status >= 500:
        return ProviderUnavailableError(message, **fields)
    return ProviderError(message, **fields)


def error_from_exception(
    error: BaseException,
    *,
    kind: RequestKind,
    provider: str,
    method: str,
    path: str,
    note: str = "",
    secrets: Sequence[str] = (),
) -> ProviderError:
    """Map an httpx exception onto the soravideo tree (raise it ``from`` ``error``).

    A create that may have been sent (timeout, broken connection after sending) becomes an
    :class:`AmbiguousSubmissionError`; timeouts otherwise a :class:`ProviderTimeoutError`;
    other failures to reach the server a :class:`ProviderConnectionError`.

    Args:
        error: The httpx exception.
        kind: What the request did.
        provider: The transport's name.
        method: The HTTP method.
        path: The URL path (no query: it could hold a key on some providers).
        note: A sentence appended to the message.
        secrets: Strings scrubbed from the message.

    Returns:
        The error to raise.
    """
    failure = failure_of(error) or Failure.AFTER_SEND
    what = {
        Failure.CONNECT: "could not connect",
        Failure.TIMEOUT: "no answer in time",
        Failure.AFTER_SEND: "the connection broke",
        Failure.LOCAL: "the request could not be sent",
    }[failure]
    detail = str(error) or type(error).__name__
    message = redact(
        _with_note(f"{provider}: {method} {path}: {what} ({type(error).__name__}: {detail})", note),
        secrets,
    )
    if kind is RequestKind.CREATE and classify(kind, failure) is Decision.AMBIGUOUS:
        return AmbiguousSubmissionError(
            f"{message} (the create may have happened; reconcile before sending it again)",
            provider=provider,
        )
    is_timeout = isinstance(error, httpx.TimeoutException)
    if failure is Failure.LOCAL:
        return ProviderError(message, provider=provider)
    cls = ProviderTimeoutError if is_timeout else ProviderConnectionError
    return cls(message, provider=provider)


@attrs.define(kw_only=True)
class HttpContentStream:
    """An open streamed download (a :class:`~soravideo.transports.ContentStream`)."""

    content_type: str | None
    content_length: int | None
    _response: httpx.Response = attrs.field(repr=False, alias="response")
    _map_error: Callable[[BaseException], ProviderError] = attrs.field(
        repr=False, alias="map_error"
    )

    async def aiter_bytes(self) -> AsyncIterator[bytes]:
        """Yield the body in chunks as they arrive.

        Raises:
            ProviderConnectionError: The connection broke mid-download.
        """
        try:
            async for chunk in self._response.aiter_bytes():
                yield chunk
        except httpx.HTTPError as exc:
            raise self._map_error(exc) from exc


def _same_origin(a: httpx.URL, b: httpx.URL) -> bool:
    return (a.scheme, a.host, a.port) == (b.scheme, b.host, b.port)


class HttpSession:
    """Send a transport's requests: auth, retries, counters and error mapping in one place.

    Args:
        provider: The transport's name, put in every error.
        headers: Headers for every request (auth included; never logged).
        params: Query parameters for every request (e.g. ``api-version``).
        secrets: Strings to scrub from errors and logs (the API key).
        http_client: An ``httpx.AsyncClient`` to use; not closed by :meth:`aclose`. When
            ``None``, one is created on first use and closed by :meth:`aclose`.
        timeout: Per-request timeout in seconds; ``None`` keeps an injected client's own
            (or 60 s for the session's own client) until :meth:`use_timeout` sets one.
        policy: The retry policy.
        sleep: Waits between retries.
        on_retry: Called as ``on_retry(attempt, delay, error)`` before each retry.
        note: A sentence appended to every error message.
        describe: Extracts ``(message, code)`` from error bodies.
        now: Returns the current Unix time (for ``Retry-After`` dates).
    """

    def __init__(
        self,
        *,
        provider: str,
        headers: Mapping[str, str] | None = None,
        params: Mapping[str, str] | None = None,
        secrets: Sequence[str] = (),
        http_client: httpx.AsyncClient | None = None,
        timeout: float | httpx.Timeout | None = None,
        policy: RetryPolicy | None = None,
        sleep: Callable[[float], Awaitable[None]] = anyio.sleep,
        on_retry: OnRetry | None = None,
        note: str = "",
        describe: ErrorDescriber = describe_error_body,
        now: Callable[[], float] = time.time,
    ) -> None:
        self.provider = provider
        self.policy = policy or RetryPolicy()
        self.stats = TransportStats()
        self.note = note
        self._headers = {"User-Agent": USER_AGENT, **(headers or {})}
        self._params = dict(params or {})
        self._secrets = tuple(secrets)
        self._client = http_client
        self._owns_client = http_client is None
        # httpx's "use the client's own timeout" marker has no public type.
        self._timeout: Any = httpx.USE_CLIENT_DEFAULT if timeout is None else httpx.Timeout(timeout)
        self._timeout_given = timeout is not None
        self._cap_retry_after = RetryAfterCap(provider)
        self._sleep = sleep
        self._on_retry = on_retry
        self._describe = describe
        self._now = now
        self._closed = False

    def __repr__(self) -> str:
        return f"HttpSession(provider={self.provider!r}, owns_client={self._owns_client})"

    def use_timeout(self, seconds: float) -> None:
        """Time every later request out after ``seconds``, unless a timeout was given.

        Applied per request (connect, read, write and pool), so it holds for an injected
        client as for the session's own. A timeout given to the constructor wins.

        Args:
            seconds: The timeout, e.g. ``Settings.request_timeout``.
        """
        if not self._timeout_given:
            self._timeout = httpx.Timeout(seconds)

    @property
    def client(self) -> httpx.AsyncClient:
        """The httpx client (created on first use when none was injected)."""
        if self._client is None:
            if self._closed:
                raise ProviderError(
                    f"{self.provider}: the transport is closed", provider=self.provider
                )
            # Created lazily: building a client loads TLS certificates, and constructors do no I/O.
            self._client = httpx.AsyncClient(timeout=DEFAULT_TIMEOUT)
        return self._client

    def scrub(self, value: Any) -> Any:
        """Return ``value`` with this session's secrets replaced by ``***`` (see :func:`redact`)."""
        return redact(value, self._secrets)

    def request_id(self, response: httpx.Response) -> str | None:
        """Return the response's ``x-request-id``, scrubbed of this session's secrets."""
        return request_id_of(response, self._secrets)

    def map_response(self, response: httpx.Response, kind: RequestKind) -> ProviderError:
        """Return the soravideo error for an error answer (see :func:`error_from_response`).

        A :class:`RateLimitError`'s ``retry_after`` is capped at the policy's
        ``retry_after_cap`` (one warning per session the first time that bites).
        """
        error = error_from_response(
            response,
            kind=kind,
            provider=self.provider,
            note=self.note,
            secrets=self._secrets,
            describe=self._describe,
            now=self._now(),
        )
        if isinstance(error, RateLimitError):
            error.retry_after = self._cap_retry_after(
                error.retry_after, self.policy.retry_after_cap
            )
        return error

    def map_exception(
        self, error: BaseException, kind: RequestKind, method: str, path: str
    ) -> ProviderError:
        """Return the soravideo error for an httpx exception (see :func:`error_from_exception`)."""
        return error_from_exception(
            error,
            kind=kind,
            provider=self.provider,
            method=method,
            path=path,
            note=self.note,
            secrets=self._secrets,
        )

    def _build(
        self,
        method: str,
        url: str | httpx.URL,
        *,
        params: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        json_body: Any = None,
        data: Mapping[str, Any] | None = None,
        files: Mapping[str, Any] | None = None,
        authorized: bool = True,
    ) -> httpx.Request:
        merged_params = {**self._params, **(params or {})} if authorized else dict(params or {})
        merged_headers = (
            {**self._headers, **(headers or {})}
            if authorized
            else {"User-Agent": USER_AGENT, **(headers or {})}
        )
        return self.client.build_request(
            method,
            url,
            params=merged_params or None,
            headers=merged_headers,
            json=json_body,
            data=data,
            files=files,
            timeout=self._timeout,
        )

    def _retry_hook(self, method: str, path: str) -> OnRetry:
        def hook(attempt: int, delay: float, error: BaseException) -> None:
            self.stats.retries += 1
            log.info(
                "%s: %s %s attempt %d failed (%s); retrying in %.2f s",
                self.provider,
                method,
                path,
                attempt,
                redact(str(error), self._secrets),
                delay,
            )
            if self._on_retry is not None:
                self._on_retry(attempt, delay, error)

        return hook

    async def _send(
        self, request: httpx.Request, kind: RequestKind, *, stream: bool
    ) -> httpx.Response:
        """Send once; return a successful (or redirect, when streaming) answer, else raise."""
        self.stats.requests += 1
        path = request.url.path
        try:
            response = await self.client.send(request, stream=stream)
            if stream and not (response.is_success or response.is_redirect):
                try:
                    await response.aread()
                finally:
                    await response.aclose()
        except httpx.HTTPError as exc:
            self.stats.errors += 1
            raise self.map_exception(exc, kind, request.method, path) from exc
        if response.is_success or (stream and response.is_redirect):
            return response
        self.stats.errors += 1
        if response.status_code == 429:
            self.stats.rate_limited += 1
        if not response.is_error:
            raise ProviderError(
                _with_note(
                    f"{self.provider}: {request.method} {path}: unexpected status "
                    f"{response.status_code}",
                    self.note,
                ),
                status_code=response.status_code,
                request_id=request_id_of(response, self._secrets),
                provider=self.provider,
            )
        try:
            response.raise_for_status()
        except httpx.HTTPStatusError as exc:
            raise self.map_response(response, kind) from exc
        raise AssertionError("unreachable: raise_for_status accepted an error status")

    async def request(
        self,
        method: str,
        url: str | httpx.URL,
        *,
        kind: RequestKind,
        params: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        json_body: Any = None,
        data: Mapping[str, Any] | None = None,
        files: Mapping[str, Any] | None = None,
        retry: bool = True,
    ) -> httpx.Response:
        """Send a request (retrying per the policy) and return its successful, read answer.

        Args:
            method: The HTTP method.
            url: The absolute URL.
            kind: What the request does (decides what may be retried).
            params: Extra query parameters.
            headers: Extra headers (e.g. ``Idempotency-Key``).
            json_body: A JSON body.
            data: Form fields (with ``files``: multipart).
            files: Multipart files.
            retry: ``False`` sends exactly once.

        Returns:
            The 2xx response, body read.

        Raises:
            ProviderError: Mapped per :func:`error_from_response` / :func:`error_from_exception`.
        """

        async def attempt() -> httpx.Response:
            request = self._build(
                method,
                url,
                params=params,
                headers=headers,
                json_body=json_body,
                data=data,
                files=files,
            )
            return await self._send(request, kind, stream=False)

        if not retry:
            return await attempt()
        return await call_with_retries(
            attempt,
            policy=self.policy,
            kind=kind,
            sleep=self._sleep,
            on_retry=self._retry_hook(method, httpx.URL(url).path),
            now=self._now,
        )

    def stream(
        self,
        method: str,
        url: str | httpx.URL,
        *,
        params: Mapping[str, Any] | None = None,
        authorized: bool = True,
    ) -> AbstractAsyncContextManager[HttpContentStream]:
        """Open a streamed download (opening is retried; the body is streamed once).

        Redirects are followed; the auth headers and query go only to the same origin, so a
        presigned download URL on another host never sees the key.

        Args:
            method: The HTTP method (``GET``).
            url: The absolute URL.
            params: Extra query parameters.
            authorized: ``False`` sends no auth headers or session query at all, not even
                to ``url`` itself (a provider's signed CDN URL).

        Returns:
            An async context manager yielding the open :class:`HttpContentStream`.
        """
        return self._stream(method, url, params=params, authorized=authorized)

    @asynccontextmanager
    async def _stream(
        self,
        method: str,
        url: str | httpx.URL,
        *,
        params: Mapping[str, Any] | None,
        authorized: bool = True,
    ) -> AsyncIterator[HttpContentStream]:
        origin = httpx.URL(url)

        async def attempt() -> httpx.Response:
            request = self._build(method, origin, params=params, authorized=authorized)
            for _ in range(_MAX_REDIRECTS + 1):
                response = await self._send(request, RequestKind.READ, stream=True)
                if not response.is_redirect:
                    return response
                await response.aclose()
                target = request.url.join(response.headers.get("location", ""))
                # Credentials go to our own origin only: a presigned URL elsewhere needs none.
                request = self._build(
                    "GET", target, authorized=authorized and _same_origin(target, origin)
                )
            raise ProviderError(
                _with_note(
                    f"{self.provider}: {method} {origin.path}: too many redirects", self.note
                ),
                provider=self.provider,
            )

        response = await call_with_retries(
            attempt,
            policy=self.policy,
            kind=RequestKind.READ,
            sleep=self._sleep,
            on_retry=self._retry_hook(method, origin.path),
            now=self._now,
        )
        try:
            encoding = response.headers.get("content-encoding", "identity").lower()
            length = response.headers.get("content-length")
            # After decoding, a compressed body's length differs from the header's.
            content_length = (
                int(length)
                if length is not None and length.isdigit() and encoding == "identity"
                else None
            )
            yield HttpContentStream(
                content_type=response.headers.get("content-type"),
                content_length=content_length,
                response=response,
                map_error=lambda exc: self.map_exception(
                    exc, RequestKind.READ, method, response.request.url.path
                ),
            )
        finally:
            await response.aclose()

    async def aclose(self) -> None:
        """Close the httpx client if this session created it. Idempotent."""
        self._closed = True
        client, self._client = self._client, None
        # An injected client stays usable by its owner: we only drop our reference to it.
        if client is not None and self._owns_client:
            await client.aclose()


_T = TypeVar("_T", bound="HttpTransport")


class HttpTransport:
    """What every httpx-based transport shares: counters, the retry policy, ``async with``.

    Subclasses set ``self._session`` (an :class:`HttpSession`) and define ``aclose``.
    """

    _session: HttpSession
    name: str
    # How many single-job reads ``_fetch_each`` keeps in flight at once.
    fetch_concurrency: int = 8

    def _unexpected_answer(
        self, response: httpx.Response, payload: object, what: str, *, creating: bool
    ) -> NoReturn:
        """Raise for a 2xx whose body is not the job object expected (``what``).

        Raises:
            AmbiguousSubmissionError: on a create, which may have happened all the same.
            ProviderError: otherwise.
        """
        text = (
            f"{self.name}: {response.request.method} {response.url.path}: the answer is not {what}"
        )
        fields: dict[str, Any] = {
            "status_code": response.status_code,
            "request_id": self._session.request_id(response),
            "body": self._session.scrub(
                payload if isinstance(payload, Mapping) else response.text[:2000]
            ),
            "provider": self.name,
        }
        if creating:
            # A 2xx came back, so the job probably exists, but we cannot tell its id.
            raise AmbiguousSubmissionError(
                f"{text} (the create may have happened; reconcile before sending it again)",
                **fields,
            )
        raise ProviderError(text, **fields)

    def _check_id(self, response: httpx.Response, remote_id: object, *, creating: bool) -> str:
        """Return the id a provider answered with, if it can be used in a URL path.

        Raises:
            ProviderError: ``code="invalid_remote_id"``: a dot segment, a separator, a
                control character … (see :func:`~soravideo.transports.base.remote_id_problem`).
                Not an :class:`AmbiguousSubmissionError` even on a create: the create was
                answered, and sending it again would only make another such video.
        """
        return checked_remote_id(
            remote_id,
            shown=self._session.scrub(remote_id),
            provider=self.name,
            context=f"{response.request.method} {response.url.path}",
            status_code=response.status_code,
            request_id=self._session.request_id(response),
            creating=creating,
        )

    async def fetch(self, remote_id: str) -> RemoteJob:
        """Return the provider's current view of one job."""
        raise NotImplementedError

    async def _fetch_each(self, remote_ids: Sequence[str]) -> dict[str, RemoteJob]:
        """Fetch jobs one request each, a few at a time; jobs the provider no longer knows
        (404) are left out, any other failure is raised."""
        found: dict[str, RemoteJob] = {}
        failures: list[ProviderError] = []
        limiter = anyio.CapacityLimiter(self.fetch_concurrency)

        async def one(remote_id: str) -> None:
            if remote_id_problem(remote_id) is not None:
                # No request can address it (an id stored by an older version): left out,
                # as an id the provider does not know is.
                return
            async with limiter:
                try:
                    found[remote_id] = await self.fetch(remote_id)
                except ProviderError as exc:
                    if exc.status_code != 404:
                        failures.append(exc)

        async with anyio.create_task_group() as group:
            for remote_id in remote_ids:
                group.start_soon(one, remote_id)
        if failures:
            raise failures[0]
        return found

    async def aclose(self) -> None:
        """Close connections the transport owns. Idempotent."""
        raise NotImplementedError

    async def __aenter__(self: _T) -> _T:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    @property
    def stats(self) -> TransportStats:
        """Counters of requests, errors, retries and ``429`` answers so far."""
        return self._session.stats

    @property
    def retry_policy(self) -> RetryPolicy:
        """The policy every request is retried by (settable: it applies to later requests)."""
        return self._session.policy

    @retry_policy.setter
    def retry_policy(self, policy: RetryPolicy) -> None:
        self._session.policy = policy

    def use_settings(self, *, request_timeout: float, max_retry_after: float) -> None:
        """Adopt a client's settings; the client calls this when it is given the transport.

        A transport is built before any client settings exist, so the client hands them
        over: ``request_timeout`` bounds every later request (create, status, list,
        cancel, content download), applied per request so it holds for an injected
        ``httpx.AsyncClient`` too, unless the transport was built with its own
        ``timeout=``, which wins; ``max_retry_after`` becomes the retry policy's
        ``retry_after_cap``, the most any ``Retry-After`` counts for.

        Args:
            request_timeout: Seconds one request may take (``Settings.request_timeout``).
            max_retry_after: Seconds a ``Retry-After`` may impose at most
                (``Settings.max_retry_after``).
        """
        self._session.use_timeout(request_timeout)
        self.retry_policy = attrs.evolve(self.retry_policy, retry_after_cap=max_retry_after)
