"""soravideo: durable AI video-generation jobs, with a ledger that survives crashes."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from ._core.errors import (
    AmbiguousSubmissionError,
    AuthenticationError,
    BatchNotFoundError,
    BudgetExceededError,
    ConflictError,
    DownloadError,
    FieldError,
    JobNotFoundError,
    JobStateError,
    JobTimeoutError,
    NotFoundError,
    PermissionDeniedError,
    ProviderConnectionError,
    ProviderError,
    ProviderTimeoutError,
    ProviderUnavailableError,
    RateLimitError,
    RepositoryError,
    SoraVideoError,
    ValidationError,
    WebhookVerificationError,
)
from ._core.lazy import lazy_attribute as _lazy_attribute
from ._core.lazy import lazy_dir as _lazy_dir
from ._core.models import (
    Batch,
    BatchProgress,
    BatchResult,
    BatchStatus,
    BatchStatusReport,
    BatchVideoRequest,
    CancellationSummary,
    CreateVideoRequest,
    Job,
    JobError,
    JobPriority,
    JobStatus,
    Page,
    ResumeSummary,
    VideoResult,
)
from ._core.version import __version__

if TYPE_CHECKING:
    from ._api.batches import AsyncBatchService
    from ._api.client import AsyncSoraVideo
    from ._api.health import CheckResult, HealthReport, ReadinessReport
    from ._api.metrics import (
        PROMETHEUS_CONTENT_TYPE,
        JobMetrics,
        Metrics,
        ProviderMetrics,
        RunnerMetrics,
        SpendMetrics,
        SystemMetrics,
    )
    from ._api.sync import BatchService, SoraVideo, VideoService, WebhookService
    from ._api.videos import AsyncVideoService
    from ._api.webhooks import AsyncWebhookService, WebhookEvent
    from ._core.clock import Clock, ManualClock, SystemClock, VirtualClock
    from ._core.converter import converter
    from ._core.events import JobEvent
    from ._core.retry import RetryPolicy
    from ._core.settings import Settings
    from ._engine.runner import RunnerStats

# Silent unless the application configures logging (the library convention).
logging.getLogger("soravideo").addHandler(logging.NullHandler())

__all__ = [
    "PROMETHEUS_CONTENT_TYPE",
    "AmbiguousSubmissionError",
    "AsyncBatchService",
    "AsyncSoraVideo",
    "AsyncVideoService",
    "AsyncWebhookService",
    "AuthenticationError",
    "Batch",
    "BatchNotFoundError",
    "BatchProgress",
    "BatchResult",
    "BatchService",
    "BatchStatus",
    "BatchStatusReport",
    "BatchVideoRequest",
    "BudgetExceededError",
    "CancellationSummary",
    "CheckResult",
    "Clock",
    "ConflictError",
    "CreateVideoRequest",
    "DownloadError",
    "FieldError",
    "HealthReport",
    "Job",
    "JobError",
    "JobEvent",
    "JobMetrics",
    "JobNotFoundError",
    "JobPriority",
    "JobStateError",
    "JobStatus",
    "JobTimeoutError",
    "ManualClock",
    "Metrics",
    "NotFoundError",
    "Page",
    "PermissionDeniedError",
    "ProviderConnectionError",
    "ProviderError",
    "ProviderMetrics",
    "ProviderTimeoutError",
    "ProviderUnavailableError",
    "RateLimitError",
    "ReadinessReport",
    "RepositoryError",
    "ResumeSummary",
    "RetryPolicy",
    "RunnerMetrics",
    "RunnerStats",
    "Settings",
    "SoraVideo",
    "SoraVideoError",
    "SpendMetrics",
    "SystemClock",
    "SystemMetrics",
    "ValidationError",
    "VideoResult",
    "VideoService",
    "VirtualClock",
    "WebhookEvent",
    "WebhookService",
    "WebhookVerificationError",
    "__version__",
    "converter",
]

# Names loaded on first access (PEP 562): the client, its engine and the transports and
# ledgers they use cost nothing until a program touches them, so ``import soravideo`` stays
# light for programs that only handle its models and errors. Name -> defining module.
_LAZY = {
    "AsyncBatchService": "._api.batches",
    "AsyncSoraVideo": "._api.client",
    "CheckResult": "._api.health",
    "HealthReport": "._api.health",
    "ReadinessReport": "._api.health",
    "PROMETHEUS_CONTENT_TYPE": "._api.metrics",
    "JobMetrics": "._api.metrics",
    "Metrics": "._api.metrics",
    "ProviderMetrics": "._api.metrics",
    "RunnerMetrics": "._api.metrics",
    "SpendMetrics": "._api.metrics",
    "SystemMetrics": "._api.metrics",
    "BatchService": "._api.sync",
    "SoraVideo": "._api.sync",
    "VideoService": "._api.sync",
    "AsyncVideoService": "._api.videos",
    "AsyncWebhookService": "._api.webhooks",
    "WebhookEvent": "._api.webhooks",
    "WebhookService": "._api.sync",
    "Clock": "._core.clock",
    "ManualClock": "._core.clock",
    "SystemClock": "._core.clock",
    "VirtualClock": "._core.clock",
    "converter": "._core.converter",
    "JobEvent": "._core.events",
    "RetryPolicy": "._core.retry",
    "Settings": "._core.settings",
    "RunnerStats": "._engine.runner",
}


def __getattr__(name: str) -> Any:
    return _lazy_attribute(globals(), _LAZY, name)


def __dir__() -> list[str]:
    return _lazy_dir(globals())
