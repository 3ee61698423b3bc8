"""soravideo: durable AI video-generation jobs, with a ledger that survives crashes."""

from __future__ import annotations

import logging

from ._batches import AsyncBatchService
from ._client import AsyncSoraVideo
from ._clock import Clock, ManualClock, SystemClock, VirtualClock
from ._converter import converter
from ._errors import (
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
from ._events import JobEvent
from ._health import (
    PROMETHEUS_CONTENT_TYPE,
    CheckResult,
    HealthReport,
    JobMetrics,
    Metrics,
    ProviderMetrics,
    ReadinessReport,
    RunnerMetrics,
    SpendMetrics,
    SystemMetrics,
)
from ._models import (
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
from ._retry import RetryPolicy
from ._runner import RunnerStats
from ._services import AsyncVideoService
from ._settings import Settings
from ._sync import BatchService, SoraVideo, VideoService

__version__ = "0.1.0"

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
