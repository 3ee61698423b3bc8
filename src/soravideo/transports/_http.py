"""Provider-agnostic HTTP plumbing shared by the httpx transports.

A transport is written as a subclass of ``HttpTransport`` (or of ``UrlResultTransport``, when
its results are signed URLs): see their docstrings for what they give a transport for free,
and ``soravideo.transports._shared`` for the plain helpers beside them (environment keys,
JSON answers, timestamps, inline images, bounded caches). A new transport uses them instead
of writing its own.

One ``HttpSession`` per transport sends every request: it adds the auth headers,
runs the retry policy (``soravideo._core.retry``), counts what happened in
``TransportStats``, and maps every failure onto the soravideo error tree once,
chained with ``from``. Secrets given to it are scrubbed from every message and body it
puts into an exception or a log line (see ``soravideo._core.redact``).

Credentials go only to the configured origin: the session follows redirects itself (an
injected client's ``follow_redirects`` is never used) and a hop to another origin carries
no credential at all, neither the transport's headers and query nor an injected client's
own credential headers or ``auth``. A password in a URL (``http://user:PASSWORD@host``)
becomes Basic auth for that URL's origin and never appears in a URL that is sent or logged.
The httpx errors a soravideo error is chained to hold a copy of their request with every
credential header masked (``[secure]``), never the request that was sent.

What a failure means for a create: one before any byte could reach the server (connect error or
refused connection, DNS failure, connect or pool timeout) is a
[`ProviderConnectionError`][soravideo.ProviderConnectionError] (or its timeout subclass), retried by
the policy like any safe request; one after the request may have arrived (read or write timeout, a
broken connection, an unreadable answer) is an
[`AmbiguousSubmissionError`][soravideo.AmbiguousSubmissionError], never re-sent here.

Whatever a provider answers becomes a job or a [`ProviderError`][soravideo.ProviderError], never
another exception: an answer (JSON or an error page) is read up to ``MAX_ANSWER_BYTES`` (once
decoded; more is an error with ``code="answer_too_large"`` and the connection is closed),
JSON nested deeper than ``MAX_JSON_DEPTH`` or otherwise unparseable is no JSON at all
(``parse_json``), a number past float range is no number (``finite_number``), and a read of
one job answered about another is refused (``code="remote_id_mismatch"``).

Every request carries the session's timeout (``timeout=`` on the request, so it holds for
an injected ``httpx.AsyncClient`` too), and every ``Retry-After`` is capped at the policy's
``retry_after_cap``; a client sets both from its settings through
``HttpTransport.use_settings``.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import ssl
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager
from typing import Any, NoReturn, TypeVar

import anyio
import attrs
import httpx

from .._core.clock import Clock
from .._core.errors import (
    AmbiguousSubmissionError,
    AuthenticationError,
    FieldError,
    PermissionDeniedError,
    ProviderConnectionError,
    ProviderError,
    ProviderTimeoutError,
    ProviderUnavailableError,
    RateLimitError,
    ValidationError,
)
from .._core.models import CreateVideoRequest, JobStatus
from .._core.redact import (
    is_credential_header,
    is_credential_name,
    redact,
    redact_text,
    redact_url,
    scrub_exception,
    secrets_in,
)
from .._core.retry import (
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
from ._shared import MAX_JSON_DEPTH, BoundedCache, finite_number, parse_json
from .base import Capabilities, RemoteJob, checked_remote_id, remote_id_problem

__all__ = [
    "ANSWER_TOO_LARGE",
    "MAX_ANSWER_BYTES",
    "MAX_JSON_DEPTH",
    "REMOTE_ID_MISMATCH",
    "USER_AGENT",
    "HttpContentStream",
    "HttpSession",
    "HttpTransport",
    "TransportStats",
    "UrlResultTransport",
    "describe_error_body",
    "error_from_exception",
    "error_from_response",
    "finite_number",
    "parse_json",
    "redact",
    "request_id_of",
]

log = logging.getLogger("soravideo.transports")

USER_AGENT = "soravideo-python"
DEFAULT_TIMEOUT = 60.0
_MAX_BODY_TEXT = 2000
_MAX_REDIRECTS = 5
# What an error's copy of its request shows instead of a credential (as httpx's own repr).
_MASK = "[secure]"
MAX_ANSWER_BYTES = 16 * 1024 * 1024
"""The most of an answer (JSON, an error page) a session reads, decoded; not downloads."""
ANSWER_TOO_LARGE = "answer_too_large"
"""``ProviderError.code`` of an answer longer than ``HttpSession.max_answer_bytes``."""
REMOTE_ID_MISMATCH = "remote_id_mismatch"
"""``ProviderError.code`` of a read of one job answered about another."""


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
    parsed = parse_json(response)
    return parsed if isinstance(parsed, Mapping) else text[:_MAX_BODY_TEXT]


def request_id_of(response: httpx.Response, secrets: Sequence[str] = ()) -> str | None:
    """Return the response's ``x-request-id`` (scrubbed of ``secrets``), if any."""
    value = response.headers.get("x-request-id")
    return redact_text(value, secrets) if value else None


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
    acted_on: Callable[[httpx.Response], bool] | None = None,
    code_header: str | None = None,
) -> ProviderError:
    """Map an error answer onto the soravideo tree (raise it ``from`` the HTTP error).

    ``401`` → [`AuthenticationError`][soravideo.AuthenticationError], ``403`` →
    [`PermissionDeniedError`][soravideo.PermissionDeniedError], ``429`` →
    [`RateLimitError`][soravideo.RateLimitError] (with ``retry_after``), ``5xx`` →
    [`ProviderUnavailableError`][soravideo.ProviderUnavailableError], except that a create whose
    answer leaves its fate open (``500``, ``502``, ``504`` …) is an
    [`AmbiguousSubmissionError`][soravideo.AmbiguousSubmissionError]; anything else →
    [`ProviderError`][soravideo.ProviderError]. Every error carries ``status_code``, ``request_id``
    (``x-request-id``), the parsed ``body``, ``provider`` and ``code``.

    Args:
        response: The answer (its body already read).
        kind: What the request did.
        provider: The transport's name.
        note: A sentence appended to the message (e.g. that the API was shut down).
        secrets: Strings scrubbed from the message and body (which also lose every
            secret by shape, see ``soravideo._core.redact.redact_text``).
        describe: Extracts ``(message, code)`` from the body.
        now: Current Unix time for ``Retry-After`` dates (``time.time()`` if ``None``).
        acted_on: For a create answered with a 5xx that usually means "not done, try again"
            (``503``): whether this answer shows that the provider's own server took the
            request, so its fate is open (fal: ``x-fal-request-id``, as its official
            client reads it). Such a create is then an ``AmbiguousSubmissionError``.
        code_header: A header that names the error's ``code`` when the body does not (fal:
            ``x-fal-error-type``, as its official client reads it).

    Returns:
        The error to raise.
    """
    status = response.status_code
    body = redact(_body_of(response), secrets, shapes=True)
    text, code = describe(body)
    if code is None and code_header is not None:
        code = redact_text(response.headers.get(code_header) or "", secrets) or None
    reason = text or response.reason_phrase or "error"
    message = redact_text(
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
    if kind is RequestKind.CREATE and (
        classify(kind, status) is Decision.AMBIGUOUS
        or (status >= 500 and acted_on is not None and acted_on(response))
    ):
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
    [`AmbiguousSubmissionError`][soravideo.AmbiguousSubmissionError]; timeouts otherwise a
    [`ProviderTimeoutError`][soravideo.ProviderTimeoutError]; other failures to reach the server a
    [`ProviderConnectionError`][soravideo.ProviderConnectionError].

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
    message = redact_text(
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
    """An open streamed download (a [`ContentStream`][soravideo.transports.ContentStream])."""

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


def _redirect_method(method: str, status: int) -> str:
    """The method a redirect asks for (as browsers and httpx do): 303 and 302 turn into
    ``GET`` (``HEAD`` stays), 301 turns a ``POST`` into ``GET``, 307 and 308 keep it."""
    if status in (303, 302) and method != "HEAD":
        return "GET"
    if status == 301 and method == "POST":
        return "GET"
    return method


def _basic_auth(url: httpx.URL) -> str | None:
    """The ``Authorization`` value a URL's userinfo stands for (``Basic …``), if any."""
    if not url.username and not url.password:
        return None
    pair = f"{url.username}:{url.password}".encode()
    return "Basic " + base64.b64encode(pair).decode("ascii")


_Builder = Callable[[str, httpx.URL, bool, bool, bool], httpx.Request]
"""``build(method, url, authorized, first, body)`` → the request of one hop."""


_TLS_CONTEXTS: dict[tuple[str | None, str | None], ssl.SSLContext] = {}
_TLS_LOCK = threading.Lock()


def tls_context() -> ssl.SSLContext:
    """Return the TLS context of the clients that transports make themselves.

    httpx makes one per client, and making one loads the CA bundle (milliseconds of CPU);
    this is made once per process for each certificate setting httpx honours
    (``SSL_CERT_FILE``, ``SSL_CERT_DIR``) and shared: a context serves any number of
    connections, and every such client asks it for HTTP/1.1 alike.

    Returns:
        httpx's default context for the current certificate setting.
    """
    key = (os.environ.get("SSL_CERT_FILE") or None, os.environ.get("SSL_CERT_DIR") or None)
    with _TLS_LOCK:
        context = _TLS_CONTEXTS.get(key)
        if context is None:
            context = _TLS_CONTEXTS[key] = httpx.create_ssl_context()
        return context


class HttpSession:
    """Send a transport's requests: auth, retries, counters and error mapping in one place.

    Redirects are followed here (at most 5 hops), never by the httpx client; a hop to
    another origin than the request's carries no credential (see the module's notes).

    Args:
        provider: The transport's name, put in every error.
        headers: Headers for every request (auth included). Each of them is treated as a
            credential: never logged, masked in errors, never sent to another origin.
        params: Query parameters for every request (e.g. ``api-version``); never sent to
            another origin either.
        secrets: Strings to scrub from errors and logs (the API key).
        http_client: An ``httpx.AsyncClient`` to use; not closed by ``aclose``. When
            ``None``, one is created on first use and closed by ``aclose``. Its
            ``follow_redirects`` is ignored; its own credential headers and ``auth`` go to
            the request's origin only.
        timeout: Per-request timeout in seconds; ``None`` keeps an injected client's own
            (or 60 s for the session's own client) until ``use_timeout`` sets one.
        policy: The retry policy.
        sleep: Waits between retries.
        on_retry: Called as ``on_retry(attempt, delay, error)`` before each retry.
        note: A sentence appended to every error message.
        describe: Extracts ``(message, code)`` from error bodies.
        now: Returns the current Unix time (for ``Retry-After`` dates).
        acted_on: Whether a create's 5xx answer shows the provider's server took it (see
            ``error_from_response``).
        code_header: A header naming an error's code when its body does not.

    Attributes:
        max_answer_bytes: The most of an answer that is read (decoded), error pages
            included; streamed downloads are not counted here. ``MAX_ANSWER_BYTES`` unless
            a transport sets its own.
    """

    max_answer_bytes: int = MAX_ANSWER_BYTES

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
        acted_on: Callable[[httpx.Response], bool] | None = None,
        code_header: str | None = None,
    ) -> None:
        self.provider = provider
        self.policy = policy or RetryPolicy()
        self.stats = TransportStats()
        self.note = note
        self._headers = {"User-Agent": USER_AGENT, **(headers or {})}
        self._credential_headers = frozenset(name.lower() for name in headers or {})
        self._params = dict(params or {})
        self._secrets = tuple(secrets)
        # Passwords of URLs this session was given (``http://user:PASSWORD@host``).
        self._url_secrets: set[str] = set()
        self._client = http_client
        self._owns_client = http_client is None
        # httpx's "use the client's own timeout" marker has no public type.
        self._timeout: Any = httpx.USE_CLIENT_DEFAULT if timeout is None else httpx.Timeout(timeout)
        self._timeout_given = timeout is not None
        self._cap_retry_after = RetryAfterCap(provider)
        self._sleep = sleep
        self._on_retry = on_retry
        self._describe = describe
        self._acted_on = acted_on
        self._code_header = code_header
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
            # Created lazily: constructors do no I/O.
            self._client = httpx.AsyncClient(timeout=DEFAULT_TIMEOUT, verify=tls_context())
        return self._client

    @property
    def _hidden(self) -> tuple[str, ...]:
        """Every string known to be secret: for messages, logs and errors."""
        return (*self._secrets, *self._url_secrets)

    def scrub(self, value: Any, *, source: bytes | None = None) -> Any:
        """Return ``value`` with this session's secrets replaced by ``***`` (see ``redact``;
        ``source``: the answer's body ``value`` was read from, a shortcut when it holds
        none)."""
        return redact(value, self._secrets, source=source)

    def request_id(self, response: httpx.Response) -> str | None:
        """Return the response's ``x-request-id``, scrubbed of this session's secrets."""
        return request_id_of(response, self._hidden)

    def _is_credential(self, name: str) -> bool:
        return name.lower() in self._credential_headers or is_credential_header(name)

    def masked(self, request: httpx.Request) -> httpx.Request:
        """Return a copy of ``request`` fit for an error: credentials masked, no body.

        Every credential header reads ``[secure]`` and the URL shows no secret; the copy is
        what the httpx errors chained to soravideo errors hold.
        """
        headers = [
            (name, _MASK if self._is_credential(name) else value)
            for name, value in request.headers.multi_items()
        ]
        url = httpx.URL(redact_text(str(request.url), self._hidden))
        return httpx.Request(request.method, url, headers=headers)

    def _conceal(self, error: BaseException) -> None:
        """Scrub ``error`` and its chain in place; their requests become masked copies."""

        def clean(exc: BaseException) -> None:
            if not isinstance(exc, httpx.HTTPError):
                return
            try:
                request = exc.request
            except RuntimeError:  # an httpx error made without a request
                return
            copy = self.masked(request)
            exc.request = copy
            if isinstance(exc, httpx.HTTPStatusError):
                exc.response.request = copy

        scrub_exception(error, self._hidden, clean)

    def map_response(self, response: httpx.Response, kind: RequestKind) -> ProviderError:
        """Return the soravideo error for an error answer (see ``error_from_response``).

        A [`RateLimitError`][soravideo.RateLimitError]'s ``retry_after`` is capped at the policy's
        ``retry_after_cap`` (one warning per session the first time that bites).
        """
        error = error_from_response(
            response,
            kind=kind,
            provider=self.provider,
            note=self.note,
            secrets=self._hidden,
            describe=self._describe,
            now=self._now(),
            acted_on=self._acted_on,
            code_header=self._code_header,
        )
        if isinstance(error, RateLimitError):
            error.retry_after = self._cap_retry_after(
                error.retry_after, self.policy.retry_after_cap
            )
        return error

    def map_exception(
        self, error: BaseException, kind: RequestKind, method: str, path: str
    ) -> ProviderError:
        """Return the soravideo error for an httpx exception (see ``error_from_exception``).

        ``error`` and its chain are scrubbed in place first: raised ``from`` it, the
        soravideo error leads to no request header nor message showing a credential.
        """
        self._conceal(error)
        return error_from_exception(
            error,
            kind=kind,
            provider=self.provider,
            method=method,
            path=path,
            note=self.note,
            secrets=self._hidden,
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
        target = httpx.URL(url)
        basic = None
        if target.userinfo:
            # Never in a URL that is sent or logged: Basic auth for this origin instead.
            if authorized:
                basic = _basic_auth(target)
                self._url_secrets.update(secrets_in(str(target)))
            target = target.copy_with(username=None, password=None)
        if authorized:
            merged_params = {**self._params, **(params or {})}
            merged_headers = {**self._headers, **(headers or {})}
            if basic and not any(k.lower() == "authorization" for k in merged_headers):
                merged_headers["Authorization"] = basic
        else:
            merged_params = dict(params or {})
            merged_headers = {"User-Agent": USER_AGENT, **(headers or {})}
        request = self.client.build_request(
            method,
            target,
            params=merged_params or None,
            headers=merged_headers,
            json=json_body,
            data=data,
            files=files,
            timeout=self._timeout,
        )
        if not authorized:
            # Nor the injected client's own credentials (its default headers and query).
            for name in [name for name in request.headers if self._is_credential(name)]:
                del request.headers[name]
            for name in self.client.params:
                if is_credential_name(name):
                    request.url = request.url.copy_remove_param(name)
        return request

    def _retry_hook(self, method: str, path: str) -> OnRetry:
        def hook(attempt: int, delay: float, error: BaseException) -> None:
            self.stats.retries += 1
            log.info(
                "%s: %s %s attempt %d failed (%s); retrying in %.2f s",
                self.provider,
                method,
                path,
                attempt,
                redact_text(str(error), self._hidden),
                delay,
            )
            if self._on_retry is not None:
                self._on_retry(attempt, delay, error)

        return hook

    async def _read_capped(self, response: httpx.Response) -> tuple[httpx.Response, bool]:
        """Read a streamed answer's body, decoded, up to ``max_answer_bytes``; close it.

        Returns:
            An answer holding the body read (all of it, or the first ``max_answer_bytes``),
            and whether there was more (then the connection was closed unread).
        """
        chunks: list[bytes] = []
        size = 0
        too_large = False
        try:
            async for chunk in response.aiter_bytes():
                if size + len(chunk) > self.max_answer_bytes:
                    chunks.append(chunk[: self.max_answer_bytes - size])
                    too_large = True
                    break
                size += len(chunk)
                chunks.append(chunk)
        finally:
            await response.aclose()
        # The body is decoded already: the copy must not decode it again.
        headers = [
            (name, value)
            for name, value in response.headers.raw  # bytes: a header need not be ASCII
            if name.lower() not in (b"content-encoding", b"content-length", b"transfer-encoding")
        ]
        read = httpx.Response(
            response.status_code,
            headers=headers,
            content=b"".join(chunks),
            request=response.request,
            extensions=response.extensions,
        )
        return read, too_large

    def _too_large(self, response: httpx.Response, kind: RequestKind) -> ProviderError:
        method, path = response.request.method, response.request.url.path
        message = _with_note(
            f"{self.provider}: {method} {path}: the answer is longer than "
            f"{self.max_answer_bytes} bytes; the rest was not read",
            self.note,
        )
        fields: dict[str, Any] = {
            "status_code": response.status_code,
            "request_id": request_id_of(response, self._hidden),
            "provider": self.provider,
            "code": ANSWER_TOO_LARGE,
        }
        if kind is RequestKind.CREATE:
            # A 2xx came back, so the job probably exists, but we cannot tell its id.
            return AmbiguousSubmissionError(
                f"{message} (the create may have happened; reconcile before sending it again)",
                **fields,
            )
        return ProviderError(message, **fields)

    async def _send(
        self, request: httpx.Request, kind: RequestKind, *, stream: bool, authorized: bool
    ) -> httpx.Response:
        """Send once, never following a redirect; return a 2xx or redirect answer, else raise.

        Every answer is received as a stream: unless a streamed 2xx is wanted (``stream``),
        its body is read here, at most ``max_answer_bytes`` of it (a redirect's is not read).
        ``authorized=False`` also keeps the injected client's ``auth`` from the request.
        """
        self.stats.requests += 1
        path = request.url.path
        # httpx's "the client's own auth" marker has no public type.
        auth: Any = httpx.USE_CLIENT_DEFAULT if authorized else None
        too_large = False
        try:
            response = await self.client.send(
                request, stream=True, auth=auth, follow_redirects=False
            )
            if not response.has_redirect_location and not (stream and response.is_success):
                response, too_large = await self._read_capped(response)
        except httpx.HTTPError as exc:
            self.stats.errors += 1
            raise self.map_exception(exc, kind, request.method, path) from exc
        if too_large and response.is_success:
            self.stats.errors += 1
            raise self._too_large(response, kind)
        if response.is_success or response.has_redirect_location:
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
                request_id=request_id_of(response, self._hidden),
                provider=self.provider,
            )
        # The answer goes no further than the error: its request is the masked copy.
        copy = self.masked(request)
        response.request = copy
        cause = httpx.HTTPStatusError(
            f"{response.status_code} {response.reason_phrase} for {request.method} {path}",
            request=copy,
            response=response,
        )
        raise self.map_response(response, kind) from cause

    async def _follow(
        self,
        method: str,
        url: str | httpx.URL,
        *,
        kind: RequestKind,
        stream: bool,
        authorized: bool,
        build: _Builder,
    ) -> httpx.Response:
        """Send a request and follow its redirects; return the final answer.

        Credentials go to ``url``'s origin only: a hop elsewhere is built unauthorized.
        A redirect that changes the method (303, or 302/301 after a ``POST``) drops the body.
        """
        origin = httpx.URL(url)
        request = build(method, origin, authorized, True, True)
        hop_authorized = authorized
        # A create answered with a redirect that changes the method (303, or 301/302 after a
        # POST) was taken by the server: what happens to the hops after it says nothing of
        # whether it made a video.
        taken = False
        for _ in range(_MAX_REDIRECTS + 1):
            try:
                response = await self._send(request, kind, stream=stream, authorized=hop_authorized)
            except ProviderError as exc:
                if not taken or isinstance(exc, AmbiguousSubmissionError):
                    raise
                raise AmbiguousSubmissionError(
                    f"{exc.message} (after the create was answered with a redirect: it may "
                    "have happened; reconcile before sending it again)",
                    status_code=exc.status_code,
                    request_id=exc.request_id,
                    provider=exc.provider,
                    code=exc.code,
                ) from exc
            if not response.has_redirect_location:
                return response
            await response.aclose()
            target = request.url.join(response.headers["location"])
            hop_method = _redirect_method(request.method, response.status_code)
            taken = taken or (kind is RequestKind.CREATE and hop_method != request.method)
            hop_authorized = authorized and _same_origin(target, origin)
            request = build(hop_method, target, hop_authorized, False, hop_method == method)
        raise ProviderError(
            _with_note(f"{self.provider}: {method} {origin.path}: too many redirects", self.note),
            provider=self.provider,
        )

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

        Redirects are followed (credentials to ``url``'s origin only); a 307 or 308 sends
        the same body again.

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
            ProviderError: Mapped per ``error_from_response`` / ``error_from_exception``;
                also after more than 5 redirects.
        """

        def build(
            hop_method: str, target: httpx.URL, authorized: bool, first: bool, body: bool
        ) -> httpx.Request:
            return self._build(
                hop_method,
                target,
                params=params if first else None,
                headers=headers,
                json_body=json_body if body else None,
                data=data if body else None,
                files=files if body else None,
                authorized=authorized,
            )

        origin = httpx.URL(url)  # parsed once: every hop and attempt starts from it

        async def attempt() -> httpx.Response:
            return await self._follow(
                method, origin, kind=kind, stream=False, authorized=True, build=build
            )

        if not retry:
            return await attempt()
        return await call_with_retries(
            attempt,
            policy=self.policy,
            kind=kind,
            sleep=self._sleep,
            on_retry=self._retry_hook(method, origin.path),
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
            An async context manager yielding the open ``HttpContentStream``.
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

        def build(
            hop_method: str, target: httpx.URL, hop_authorized: bool, first: bool, body: bool
        ) -> httpx.Request:
            return self._build(
                hop_method, target, params=params if first else None, authorized=hop_authorized
            )

        async def attempt() -> httpx.Response:
            return await self._follow(
                method,
                origin,
                kind=RequestKind.READ,
                stream=True,
                authorized=authorized,
                build=build,
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
    """What every httpx-based transport shares, written once.

    A subclass sets ``name``, ``_log`` and ``_unknown_status_message``, calls
    ``_setup_http`` from its constructor (which builds ``self._session``) and sets
    ``self._base_url`` and ``self._capabilities``. It then gets, without writing them again:

    - ``__repr__`` (``Name(base_url=…, <_repr_fields>…, api_key=set)``) and ``base_url``,
      the root with any password in it shown as ``***``;
    - ``capabilities``, ``stats``, ``retry_policy``, ``use_settings``, ``aclose`` and
      ``async with``;
    - ``_model(request)``: the request's model, else ``self.default_model``;
    - ``_status_of(payload, statuses)``: the provider's status word mapped onto
      [`JobStatus`][soravideo.JobStatus]; an unknown word is processing, logged once;
    - ``_job_payload(response, what)``: a 2xx answer's job object with a usable ``id``, else
      ``_unexpected_answer`` (an ambiguous create, or a plain provider error);
    - ``_check_variant(variant)``: the [`ValidationError`][soravideo.ValidationError] for a
      content variant the provider does not serve;
    - ``_create_once(idempotency_key, create)``: for a provider that honours no idempotency
      key, a repeated ``submit`` with the same key reads the job the first one made;
    - ``_request_unless_gone(...)``: a request (a cancel, a ping) whose ``404`` means there
      is nothing left to do;
    - ``remix``, refused (``code="unsupported"``, ``_no_remix`` saying why);
    - ``fetch_many`` and ``list_recent`` for a provider with no list endpoint (one read per
      job, a few at a time; no listing), which a provider with one overrides.

    ``UrlResultTransport`` adds the download of results a provider hands out as signed URLs.
    """

    _session: HttpSession
    _base_url: str
    _capabilities: Capabilities
    _has_key: bool
    _now: Callable[[], float]
    _warned_statuses: set[str]
    _submitted: BoundedCache
    name: str
    default_model: str
    # How many single-job reads ``_fetch_each`` keeps in flight at once.
    fetch_concurrency: int = 8
    # Attributes shown by ``__repr__`` between ``base_url`` and ``api_key``.
    _repr_fields: tuple[str, ...] = ()
    # The logger and the message (``%r``: the word) of ``_status_of``'s one warning.
    _log: logging.Logger = log
    _unknown_status_message: str = "unknown status %r; treating the job as processing"
    # How the provider is named in messages ("Runway has only 'video'").
    _label: str = ""
    key_variables: tuple[str, ...] = ()
    """The environment variables the provider's key is read from (``missing_key`` names them)."""
    # What ``remix`` says after "<name>: " (the provider has none, or soravideo does not use it).
    _no_remix: str = "there is no remix endpoint"
    # The provider's own API root, where a request without a key is refused (a gateway or
    # a fake elsewhere may need none).
    _keyed_root: str = ""
    # The session class ``_setup_http`` builds (a provider whose errors read differently
    # overrides ``map_response`` in a subclass).
    _session_type: type[HttpSession] = HttpSession

    def missing_key(self) -> str | None:
        """Return why every request would be refused for want of a key, or ``None``.

        A transport with no key that talks to its provider's own API root (not a keyless
        gateway, a fake, or a root with a password in it) can do nothing: the client says
        so when it is made (an [`AuthenticationError`][soravideo.AuthenticationError]).
        """
        if self._has_key or not self._keyed_root:
            return None
        if self._base_url.rstrip("/") != self._keyed_root.rstrip("/"):
            return None
        names = " or ".join(self.key_variables)
        return (
            f"no API key for {self.name}: set {names} in the environment, or pass api_key= "
            f"to {type(self).__name__}"
        )

    def _setup_http(
        self,
        *,
        key: str | None,
        headers: Mapping[str, str],
        http_client: httpx.AsyncClient | None,
        timeout: float | httpx.Timeout | None,
        retry_policy: RetryPolicy | None,
        max_retries: int | None,
        clock: Clock | None,
        sleep: Callable[[float], Awaitable[None]] | None,
        on_retry: OnRetry | None,
        params: Mapping[str, Any] | None = None,
        note: str = "",
        describe: ErrorDescriber = describe_error_body,
        acted_on: Callable[[httpx.Response], bool] | None = None,
        code_header: str | None = None,
    ) -> None:
        """Build the transport's ``HttpSession`` from the constructor arguments they all take.

        ``key`` (``None``: no key) is scrubbed from every error and log line; the time and
        the waits between retries come from ``clock`` when given (simulated time), and
        ``max_retries`` overrides ``retry_policy.max_retries``.
        """
        self._now = clock.time if clock is not None else time.time
        self._has_key = key is not None
        self._warned_statuses = set()
        self._submitted = BoundedCache()
        policy = retry_policy or RetryPolicy()
        if max_retries is not None:
            policy = attrs.evolve(policy, max_retries=max_retries)
        self._session = self._session_type(
            provider=self.name,
            headers=headers,
            params=params,
            secrets=(key,) if key else (),
            http_client=http_client,
            timeout=timeout,
            policy=policy,
            sleep=sleep or (clock.sleep if clock is not None else anyio.sleep),
            on_retry=on_retry,
            note=note,
            describe=describe,
            acted_on=acted_on,
            code_header=code_header,
            now=self._now,
        )

    def __repr__(self) -> str:
        shown = [f"base_url={self.base_url!r}"]
        shown += [f"{field}={getattr(self, field)!r}" for field in self._repr_fields]
        shown.append(f"api_key={'set' if self._has_key else None}")
        return f"{type(self).__name__}({', '.join(shown)})"

    @property
    def base_url(self) -> str:
        """The API root, fit to show: a password in it reads ``***``.

        A password in the base URL (``http://user:PASSWORD@host``) is sent as Basic auth to
        that origin only, when no API key claims the ``Authorization`` header.
        """
        return redact_url(self._base_url)

    @property
    def capabilities(self) -> Capabilities:
        """What the provider can do: its models, cancel, list, remix, the kind of result."""
        return self._capabilities

    def _model(self, request: CreateVideoRequest) -> str:
        return request.model or self.default_model

    def _status_of(
        self, payload: Mapping[str, Any], statuses: Mapping[str, JobStatus], *, upper: bool = False
    ) -> tuple[str, JobStatus]:
        """Return the payload's status word (case-folded) and what it means.

        A word not in ``statuses`` means processing, and is logged once per word.
        """
        word = str(payload.get("status") or "").strip()
        word = word.upper() if upper else word.lower()
        status = statuses.get(word)
        if status is None:
            self._warn_status(word)
            status = JobStatus.PROCESSING
        return word, status

    def _warn_status(self, word: str) -> None:
        """Log ``_unknown_status_message`` for a status word never seen before, once."""
        if word not in self._warned_statuses:
            self._warned_statuses.add(word)
            self._log.warning(self._unknown_status_message, word)

    def _job_payload(
        self,
        response: httpx.Response,
        what: str,
        *,
        creating: bool = False,
        asked: str | None = None,
    ) -> Mapping[str, Any]:
        """Return a 2xx answer's job object, checked to have an ``id`` fit for a URL path
        and, for a read of job ``asked``, to be about that job.

        Raises:
            AmbiguousSubmissionError: on a create whose answer is not ``what``.
            ProviderError: otherwise, for an answer that is not ``what``, an unusable id,
                or another job's id (``remote_id_mismatch``).
        """
        payload = parse_json(response)
        if isinstance(payload, Mapping) and isinstance(payload.get("id"), str) and payload["id"]:
            self._check_id(response, payload["id"], creating=creating)
            if asked is not None:
                self._check_same_id(response, asked, payload["id"])
            return payload
        self._unexpected_answer(response, payload, what, creating=creating)

    def _check_variant(self, variant: str) -> None:
        """Refuse a content variant the provider does not serve.

        Raises:
            ValidationError: ``variant`` is not in ``capabilities.variants``.
        """
        variants = self._capabilities.variants
        if variant in variants:
            return
        if variants == ("video",):
            message = f"{self._label} has only 'video'"
        else:
            message = f"must be one of {', '.join(variants)}"
        raise ValidationError([FieldError(field="variant", message=message)])

    async def _create_once(
        self, idempotency_key: str, create: Callable[[], Awaitable[RemoteJob]]
    ) -> RemoteJob:
        """Create a job once per key within this transport: a repeat reads the first one's job.

        For providers that honour no idempotency key; the key is never sent.
        """
        earlier = self._submitted.get(idempotency_key)
        if earlier is not None:
            return await self.fetch(earlier)
        remote = await create()
        self._submitted.remember(idempotency_key, remote.remote_id)
        return remote

    async def _request_unless_gone(
        self, method: str, url: str | httpx.URL, *, kind: RequestKind, retry: bool = True
    ) -> None:
        """Send a request whose ``404`` answer means there is nothing (left) to do.

        Raises:
            ProviderError: any other failure.
        """
        try:
            await self._session.request(method, url, kind=kind, retry=retry)
        except ProviderError as exc:
            if exc.status_code != 404:
                raise

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
                control character … (see
                [`remote_id_problem`][soravideo.transports.base.remote_id_problem]). Not an
                [`AmbiguousSubmissionError`][soravideo.AmbiguousSubmissionError] even on a create:
                the create was answered, and sending it again would only make another such video.
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

    def _check_same_id(self, response: httpx.Response, asked: str, answered: object) -> None:
        """Refuse a read of one job (``asked``) answered about another (``answered``).

        The answer's status, output and cost are another job's: taken as this one's, its
        video would be kept (and downloaded) as this job's.

        Raises:
            ProviderError: ``code="remote_id_mismatch"`` (never an
                [`AmbiguousSubmissionError`][soravideo.AmbiguousSubmissionError]: a read).
        """
        if answered == asked:
            return
        shown = ascii(self._session.scrub(answered))[:80]
        raise ProviderError(
            f"{self.name}: {response.request.method} {response.url.path}: the answer is about "
            f"{shown}, not {ascii(asked)[:80]}",
            status_code=response.status_code,
            request_id=self._session.request_id(response),
            provider=self.name,
            code=REMOTE_ID_MISMATCH,
        )

    async def fetch(self, remote_id: str) -> RemoteJob:
        """Return the provider's current view of one job."""
        raise NotImplementedError

    async def remix(self, remote_id: str, prompt: str, *, idempotency_key: str) -> RemoteJob:
        """Refuse: the provider has no remix here (``capabilities.can_remix`` is false).

        Raises:
            ProviderError: Always, with ``code="unsupported"``.
        """
        raise ProviderError(
            f"{self.name}: {self._no_remix}", provider=self.name, code="unsupported"
        )

    async def fetch_many(self, remote_ids: Sequence[str]) -> dict[str, RemoteJob]:
        """Refresh many jobs, one request each (the provider has no list), a few at a time.

        Args:
            remote_ids: The provider's ids (duplicates are fine).

        Returns:
            The jobs by id, in the order given; ids the provider does not know (404) are
            left out.

        Raises:
            ProviderError: Any other failure.
        """
        wanted = list(dict.fromkeys(remote_ids))
        found = await self._fetch_each(wanted)
        return {rid: found[rid] for rid in wanted if rid in found}

    async def list_recent(self, *, limit: int = 100) -> list[RemoteJob]:
        """Return ``[]``: the provider has no endpoint that lists jobs."""
        return []

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
        """Close the HTTP client if this transport created it. Idempotent."""
        await self._session.aclose()

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


_STALE_URL_STATUSES = frozenset({403, 404, 410})


class UrlResultTransport(HttpTransport):
    """An ``HttpTransport`` whose results are URLs on the provider's CDN, readable by anyone
    holding them (``result_kind="url"``).

    The subclass's ``_remote`` remembers each job's URL in ``self._outputs`` (a
    ``BoundedCache``) and puts it in ``RemoteJob.urls["video"]``; its ``open_content`` checks
    the variant and returns ``self._open_output(remote_id)``, which downloads the URL last
    seen (or fetches the job for one) without the key, and fetches the job again for a fresh
    URL, once, when the URL answers 403, 404 or 410 (expired). ``_job_word`` and
    ``_output_word`` name the job and its result in messages ("runway: task … has no output
    to download"), ``_refresh_words`` what a stale URL leads to.
    """

    _outputs: BoundedCache
    _job_word: str = "job"
    _output_word: str = "video"
    _refresh_words: str = "fetching a fresh one"

    def _setup_http(self, **kwargs: Any) -> None:
        super()._setup_http(**kwargs)
        self._outputs = BoundedCache()

    async def _output_url(self, remote_id: str) -> str:
        remote = await self.fetch(remote_id)
        url = remote.urls.get("video")
        if url is None:
            raise ProviderError(
                f"{self.name}: {self._job_word} {remote_id} has no {self._output_word} to "
                f"download (status {remote.provider_status or 'unknown'})",
                provider=self.name,
                code="no_output",
            )
        return url

    @asynccontextmanager
    async def _open_output(self, remote_id: str) -> AsyncIterator[HttpContentStream]:
        url = self._outputs.get(remote_id) or await self._output_url(remote_id)
        async with AsyncExitStack() as stack:
            try:
                stream = await stack.enter_async_context(
                    self._session.stream("GET", url, authorized=False)
                )
            except ProviderError as exc:
                if exc.status_code not in _STALE_URL_STATUSES:
                    raise
                self._log.info(
                    "%s: the %s URL of %s %s answered %s; %s",
                    self.name,
                    self._output_word,
                    self._job_word,
                    remote_id,
                    exc.status_code,
                    self._refresh_words,
                )
                self._outputs.pop(remote_id, None)
                fresh = await self._output_url(remote_id)
                stream = await stack.enter_async_context(
                    self._session.stream("GET", fresh, authorized=False)
                )
            yield stream
