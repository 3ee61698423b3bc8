"""soravideo: durable AI video-generation jobs, with a ledger that survives crashes."""

from __future__ import annotations

import logging

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
from ._api.sync import BatchService, SoraVideo, VideoService
from ._api.videos import AsyncVideoService
from ._core.clock import Clock, ManualClock, SystemClock, VirtualClock
from ._core.converter import converter
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
)
from ._core.events import JobEvent
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
from ._core.retry import RetryPolicy
from ._core.settings import Settings
from ._core.version import __version__
from ._engine.runner import RunnerStats

# Silent unless the application configures logging (the library convention).
logging.getLogger("soravideo").addHandler(logging.NullHandler())

__all__ = [
    "PROMETHEUS_CONTENT_TYPE",
    "AmbiguousSubmissionError",
    "AsyncBatchService",
    "AsyncSoraVideo",
    "AsyncVideoService",
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
    "__version__",
    "converter",
]
