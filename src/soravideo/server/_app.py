"""The Litestar application: routes, API keys, the rate limit, errors, the OpenAPI document.

Litestar builds the OpenAPI document from the attrs models themselves (``_CamelAttrsPlugin``
only renames their fields to camelCase, as ``_wire.to_json`` does on the wire), serves
Swagger UI, and limits requests per API key with its own middleware. Request bodies are
read by ``_wire`` and checked by the library's validation, so a bad one is a 400 naming
every field, never a framework's 422.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from contextlib import asynccontextmanager
from typing import Annotated, Any, cast

import anyio
import attrs
from litestar import Litestar, Request, Response, Router, delete, get, post
from litestar.connection import ASGIConnection
from litestar.exceptions import HTTPException, NotAuthorizedException
from litestar.handlers.base import BaseRouteHandler
from litestar.middleware.rate_limit import DurationUnit, RateLimitConfig
from litestar.openapi import OpenAPIConfig, ResponseSpec
from litestar.openapi.plugins import SwaggerRenderPlugin
from litestar.openapi.spec import Components, Schema, SecurityScheme
from litestar.params import JSONBody, PathParameter, QueryParameter
from litestar.plugins.attrs import AttrsSchemaPlugin
from litestar.typing import FieldDefinition

from .._api.client import AsyncSoraVideo
from .._api.metrics import PROMETHEUS_CONTENT_TYPE
from .._core.errors import (
    BudgetExceededError,
    ConflictError,
    FieldError,
    JobStateError,
    NotFoundError,
    ProviderError,
    RepositoryError,
    SoraVideoError,
    ValidationError,
    WebhookVerificationError,
)
from .._core.models import BatchVideoRequest, CreateVideoRequest, JobStatus
from .._core.validation import check_batch
from .._core.version import __version__
from ._background import Background
from ._wire import (
    HIDDEN_FIELDS,
    BatchCancelledResponse,
    BatchCreated,
    BatchCreatedResponse,
    BatchResponse,
    ErrorBody,
    ErrorResponse,
    FieldProblem,
    JobCancelled,
    JobCancelledResponse,
    JobCreated,
    JobCreatedResponse,
    JobListResponse,
    JobResponse,
    Pagination,
    ResultResponse,
    WebhookReceived,
    WebhookReceivedResponse,
    camel,
    camel_path,
    parse_rate_limit,
    read_batch,
    read_video,
    to_json,
)

__all__ = ["build_app"]

logger = logging.getLogger("soravideo")

_KEY_HEADER = "x-api-key"
_UNAUTHORIZED = "a valid x-api-key header is required"


# ---------------------------------------------------------------------------- wire types


class VideoBody:
    """The raw JSON of ``POST /api/v1/videos``, documented as a ``CreateVideoRequest``."""

    def __init__(self, raw: Any) -> None:
        self.raw = raw


class BatchBody:
    """The raw JSON of ``POST /api/v1/videos/batch``, documented as a ``BatchVideoRequest``."""

    def __init__(self, raw: Any) -> None:
        self.raw = raw


_BODIES: dict[type[Any], type[Any]] = {VideoBody: CreateVideoRequest, BatchBody: BatchVideoRequest}


class _CamelAttrsPlugin(AttrsSchemaPlugin):
    """The attrs models' schemas with camelCase names, as ``_wire.to_json`` writes them;
    the two request bodies are documented by the models they become."""

    @staticmethod
    def is_plugin_supported_type(value: Any) -> bool:
        return value in _BODIES or AttrsSchemaPlugin.is_plugin_supported_type(value)

    def to_openapi_schema(self, field_definition: FieldDefinition, schema_creator: Any) -> Schema:
        model = _BODIES.get(field_definition.type_)
        if model is not None:
            schema: Schema = schema_creator.for_field_definition(
                FieldDefinition.from_annotation(model)
            )
            return schema
        hints = field_definition.get_type_hints(include_extras=True, resolve_generics=True)
        fields = [f for f in attrs.fields(field_definition.type_) if f.name not in HIDDEN_FIELDS]
        created: Schema = schema_creator.create_component_schema(
            field_definition,
            required=sorted(camel(f.name) for f in fields if f.default is attrs.NOTHING),
            property_fields={
                camel(f.name): FieldDefinition.from_kwarg(hints[f.name], camel(f.name))
                for f in fields
            },
        )
        return created


class _CamelResponse(Response[Any]):
    """Writes attrs models (the envelopes) as camelCase JSON."""

    def render(self, content: Any, media_type: str, enc_hook: Any = None) -> bytes:
        if attrs.has(type(content)):
            content = to_json(content)
        if enc_hook is None:
            return super().render(content, media_type)
        return super().render(content, media_type, enc_hook)


# ---------------------------------------------------------------------------- errors


def _error(
    status: int,
    code: str,
    message: str,
    *,
    fields: Iterable[FieldProblem] = (),
    headers: Mapping[str, str] | None = None,
) -> Response[Any]:
    body = ErrorResponse(error=ErrorBody(code=code, message=message, fields=tuple(fields)))
    return _CamelResponse(content=body, status_code=status, headers=dict(headers or {}))


class _RequestInvalid(ValidationError):
    """A request body's problems, its fields named as the API names them already."""


def _invalid(errors: Iterable[FieldError], message: str = "invalid request") -> Response[Any]:
    problems = [FieldProblem(field=e.field, message=e.message) for e in errors]
    return _error(400, "invalid_request", message, fields=problems)


def _library_error(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    if isinstance(exc, _RequestInvalid):
        return _invalid(exc.errors)
    if isinstance(exc, ValidationError):
        # The library names fields as the models do (videos[1].aspect_ratio).
        return _invalid(
            FieldError(field=camel_path(e.field), message=e.message) for e in exc.errors
        )
    if isinstance(exc, NotFoundError):
        return _error(404, "not_found", str(exc))
    if isinstance(exc, JobStateError):
        return _error(400, "invalid_state", str(exc))
    if isinstance(exc, BudgetExceededError):
        return _error(400, "budget_exceeded", str(exc))
    if isinstance(exc, ConflictError):
        return _error(409, "conflict", str(exc))
    if isinstance(exc, RepositoryError):
        logger.warning("%s %s: the ledger failed: %s", request.method, request.url.path, exc)
        return _error(503, "ledger_unavailable", "the ledger cannot be reached; try again")
    if isinstance(exc, ProviderError):
        logger.warning("%s %s: the provider failed: %s", request.method, request.url.path, exc)
        return _error(502, "provider_error", "the provider failed; try again")
    return _internal(request, exc)


_HTTP_CODES = {
    400: "invalid_request",
    401: "unauthorized",
    404: "not_found",
    405: "method_not_allowed",
    413: "too_large",
    429: "rate_limited",
}


def _http_error(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    assert isinstance(exc, HTTPException)
    status = exc.status_code
    headers = dict(exc.headers or {})
    if status == 400:
        extra = exc.extra if isinstance(exc.extra, list) else []
        problems = [
            FieldError(field=str(item.get("key") or "body"), message=str(item.get("message")))
            for item in extra
            if isinstance(item, Mapping)
        ]
        return _invalid(problems or [FieldError(field="body", message=exc.detail)])
    if status == 429:
        # Litestar's limiter says when the window resets (RateLimit-Reset); clients and
        # proxies read Retry-After.
        reset = headers.get("RateLimit-Reset", "1")
        headers["Retry-After"] = str(max(1, int(reset) if reset.isdigit() else 1))
        return _error(429, "rate_limited", "too many requests; retry later", headers=headers)
    message = _UNAUTHORIZED if status == 401 else exc.detail
    return _error(status, _HTTP_CODES.get(status, "http_error"), message, headers=headers)


def _internal(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    logger.error("%s %s failed", request.method, request.url.path, exc_info=exc)
    return _error(500, "internal_error", "the server failed; the error is in its log")


# ---------------------------------------------------------------------------- API keys


def _digest(key: str) -> bytes:
    return hashlib.sha256(key.encode("utf-8", "surrogateescape")).digest()


class _Keys:
    """The API keys, compared in constant time (as digests, so lengths tell nothing)."""

    def __init__(self, keys: Iterable[str]) -> None:
        self._digests = tuple(_digest(key) for key in keys)

    def match(self, connection: ASGIConnection[Any, Any, Any, Any]) -> bytes | None:
        """Return the digest of the request's key when it is one of them, else ``None``."""
        given = _digest(connection.headers.get(_KEY_HEADER, ""))
        found = False
        for digest in self._digests:  # every key, every time: no early exit to time
            found |= hmac.compare_digest(given, digest)
        return given if found else None

    def guard(self, connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
        """Refuse a request without a valid key (the same 401 for a missing or a wrong one)."""
        if self.match(connection) is None:
            raise NotAuthorizedException(detail=_UNAUTHORIZED)

    def identify(self, request: Request[Any, Any, Any]) -> str:
        """Who a request counts against in the rate limit: its key (hashed), or everyone
        without a valid key together, whatever key they try."""
        digest = self.match(request)
        return "key:" + digest.hex()[:32] if digest is not None else "no-valid-key"


def _check_keys(api_keys: Any) -> tuple[str, ...]:
    keys = (api_keys,) if isinstance(api_keys, str) else tuple(api_keys or ())
    if not keys or not all(isinstance(k, str) and k.strip() for k in keys):
        raise ValidationError(
            [FieldError(field="api_keys", message="give at least one non-empty API key")]
        )
    return keys


# ---------------------------------------------------------------------------- routes

_ERRORS = {
    status: ResponseSpec(data_container=ErrorResponse, description=description)
    for status, description in (
        (400, "Invalid input (every bad field named in error.fields), or a job's state forbids it"),
        (401, "No valid x-api-key header"),
        (404, "No such job or batch"),
        (429, "Over this key's rate limit: retry after Retry-After seconds"),
    )
}


def _video_routes(client: AsyncSoraVideo, background: Background) -> list[Any]:
    videos = client.videos

    def add(errors: list[FieldError], found: Iterable[FieldError]) -> None:
        # The library's problems (its field names camelCased), for fields not yet named.
        named = {e.field for e in errors}
        for problem in found:
            field = camel_path(problem.field)
            if field not in named:
                named.add(field)
                errors.append(FieldError(field=field, message=problem.message))

    @post("/videos", status_code=201, summary="Create a video job", responses=_ERRORS)
    async def create_video(data: JSONBody[VideoBody]) -> JobCreatedResponse:
        errors: list[FieldError] = []
        request = read_video(data.raw, "", errors)
        if request is not None:
            add(errors, videos.validate(request))
        if errors or request is None:
            raise _RequestInvalid(errors)
        job = await videos.create_video(request)
        return JobCreatedResponse(
            data=JobCreated(job_id=job.id, status=job.status, message="video job created")
        )

    @post(
        "/videos/batch", status_code=201, summary="Create a batch of video jobs", responses=_ERRORS
    )
    async def create_batch(data: JSONBody[BatchBody]) -> BatchCreatedResponse:
        errors: list[FieldError] = []
        request = read_batch(data.raw, errors)
        if request is None or errors:
            if request is not None:
                # Name the batch's own fields and each video's too, in one answer.
                max_size = client.settings.max_batch_size
                add(errors, check_batch(request, max_batch_size=max_size))
                for i, video in enumerate(request.videos):
                    add(errors, videos.validate(video, f"videos[{i}]"))
            raise _RequestInvalid(errors)
        created = await client.batches.create_batch(request)
        background.process(created.batch_id)
        return BatchCreatedResponse(
            data=BatchCreated(
                batch_id=created.batch_id, job_ids=created.job_ids, total=created.total
            )
        )

    @get("/videos/{jobId:str}", summary="Get a job", responses=_ERRORS)
    async def get_job(jobId: Annotated[str, PathParameter()]) -> JobResponse:
        return JobResponse(data=await videos.get_job(jobId))

    @get(
        "/videos/{jobId:str}/result",
        summary="Get a completed job's video (400 before)",
        responses=_ERRORS,
    )
    async def get_result(jobId: Annotated[str, PathParameter()]) -> ResultResponse:
        return ResultResponse(data=await videos.get_video_result(jobId))

    @delete("/videos/{jobId:str}", status_code=200, summary="Cancel a job", responses=_ERRORS)
    async def cancel_job(jobId: Annotated[str, PathParameter()]) -> JobCancelledResponse:
        job = await videos.cancel_job(jobId)
        return JobCancelledResponse(data=JobCancelled(job_id=job.id, status=job.status))

    @get("/videos", summary="List jobs, newest first", responses=_ERRORS)
    async def list_jobs(
        page: Annotated[int, QueryParameter(ge=1, description="from 1")] = 1,
        limit: Annotated[int, QueryParameter(ge=1, le=1000, description="jobs a page")] = 20,
        status: Annotated[JobStatus | None, QueryParameter(description="only jobs in it")] = None,
        batch_id: Annotated[
            str | None, QueryParameter(name="batchId", description="only its jobs")
        ] = None,
    ) -> JobListResponse:
        got = await videos.list_jobs(status=status, batch_id=batch_id, page=page, limit=limit)
        return JobListResponse(
            data=got.items,
            pagination=Pagination(
                page=got.page,
                limit=got.limit,
                total=got.total,
                pages=got.pages,
                has_next=got.has_next,
            ),
        )

    @get(
        "/batches/{batchId:str}",
        summary="Get a batch, its jobs and its progress",
        responses=_ERRORS,
    )
    async def get_batch(batchId: Annotated[str, PathParameter()]) -> BatchResponse:
        return BatchResponse(data=await client.batches.get_batch_status(batchId))

    @post(
        "/batches/{batchId:str}/cancel",
        status_code=200,
        summary="Cancel a batch",
        responses=_ERRORS,
    )
    async def cancel_batch(batchId: Annotated[str, PathParameter()]) -> BatchCancelledResponse:
        return BatchCancelledResponse(data=await client.batches.cancel_batch(batchId))

    return [
        create_video,
        create_batch,
        get_job,
        get_result,
        cancel_job,
        list_jobs,
        get_batch,
        cancel_batch,
    ]


def webhook_routes(client: AsyncSoraVideo) -> list[Any]:
    """``POST /api/v1/webhooks/{provider}``: a provider's signed delivery, handed raw to
    ``client.webhooks.handle``. No API key and no rate limit (providers send neither): the
    delivery's signature is the check, and a bad one changes nothing."""

    @post(
        "/webhooks/{provider:str}",
        status_code=200,
        summary="Receive a provider's webhook delivery (signed; no API key)",
        description=(
            "The raw body and headers go to the client's webhook handler: the signature and "
            "timestamp are verified first (401 otherwise), the delivery is recorded once in "
            "the ledger (a repeat is acknowledged as a duplicate) and the job's new state is "
            "applied as polling would."
        ),
        responses={
            400: ResponseSpec(data_container=ErrorResponse, description="Not this provider"),
            401: ResponseSpec(data_container=ErrorResponse, description="A bad signature"),
        },
    )
    async def receive(
        provider: Annotated[str, PathParameter()], request: Request[Any, Any, Any]
    ) -> Response[Any]:
        body = await request.body()
        try:
            event = await client.webhooks.handle(
                provider=provider, headers=dict(request.headers), body=body
            )
        except WebhookVerificationError as exc:
            return _error(401, "invalid_signature", str(exc))
        received = WebhookReceived(
            provider=event.provider,
            remote_id=event.remote_id,
            job_id=event.job.id if event.job is not None else None,
            applied=event.applied,
            duplicate=event.duplicate,
        )
        return _CamelResponse(content=WebhookReceivedResponse(data=received), status_code=200)

    return [receive]


def _monitoring_routes(client: AsyncSoraVideo) -> list[Any]:
    @get("/health", summary="Liveness: 200 while the process runs")
    async def health() -> dict[str, Any]:
        return client.health().to_dict()

    @get("/ready", summary="Readiness: 200 when the ledger and the provider answer, else 503")
    async def ready() -> Response[dict[str, Any]]:
        report = await client.ready()
        return Response(report.to_dict(), status_code=200 if report.ready else 503)

    @get(
        "/metrics",
        summary="Metrics: JSON, or Prometheus text for Accept: text/plain",
        media_type="application/json",
    )
    async def metrics(request: Request[Any, Any, Any]) -> Response[Any]:
        snapshot = await client.metrics()
        wanted = request.accept.best_match(
            ["application/json", "text/plain"], default="application/json"
        )
        if wanted == "text/plain":
            # Litestar adds the charset itself.
            media_type = PROMETHEUS_CONTENT_TYPE.removesuffix("; charset=utf-8")
            return Response(snapshot.to_prometheus(), media_type=media_type)
        return Response(snapshot.to_dict())

    return [health, ready, metrics]


# ---------------------------------------------------------------------------- the app


def build_app(
    client: AsyncSoraVideo,
    *,
    api_keys: Iterable[str],
    rate_limit: str = "100/minute",
    worker: bool = True,
) -> Litestar:
    """Return the Litestar application (see ``soravideo.server.create_app``)."""
    keys = _Keys(_check_keys(api_keys))
    limit = RateLimitConfig(
        rate_limit=cast("tuple[DurationUnit, int]", parse_rate_limit(rate_limit)),
        identifier_for_request=keys.identify,
    )
    background = Background(client)
    api = Router(
        path="/api/v1",
        route_handlers=_video_routes(client, background),
        guards=[keys.guard],
        middleware=[limit.middleware],
        security=[{"apiKey": []}],
    )

    @asynccontextmanager
    async def lifespan(_: Litestar) -> AsyncIterator[None]:
        if not worker:
            yield
            return
        async with anyio.create_task_group() as tg:
            await tg.start(background.run)
            try:
                yield
            finally:
                tg.cancel_scope.cancel()

    handlers: dict[Any, Callable[[Request[Any, Any, Any], Any], Response[Any]]] = {
        HTTPException: _http_error,
        404: _http_error,  # an unknown path (no route, so no route's own handlers)
        405: _http_error,
        SoraVideoError: _library_error,
        Exception: _internal,
    }
    return Litestar(
        # The webhook route sits outside `api`: no key, no rate limit, no security scheme.
        route_handlers=[
            api,
            Router(path="/api/v1", route_handlers=webhook_routes(client)),
            *_monitoring_routes(client),
        ],
        plugins=[_CamelAttrsPlugin()],
        type_decoders=[(lambda t: t in _BODIES, lambda t, raw: t(raw))],
        response_class=_CamelResponse,
        exception_handlers=handlers,
        # The soravideo logger reports what matters; Litestar's default would configure the
        # root logger of the program it runs in.
        logging_config=None,
        lifespan=[lifespan],
        openapi_config=OpenAPIConfig(
            title="soravideo",
            version=__version__,
            description="Durable AI video-generation jobs over HTTP (camelCase JSON).",
            path="/",
            render_plugins=[SwaggerRenderPlugin(path="/docs")],
            components=Components(
                security_schemes={
                    "apiKey": SecurityScheme(
                        type="apiKey", name=_KEY_HEADER, security_scheme_in="header"
                    )
                }
            ),
        ),
        debug=False,
    )
