"""soravideo: durable AI video-generation jobs, with a ledger that survives crashes."""

from __future__ import annotations

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
    VideoResult,
)
from ._runner import RunnerStats
from ._services import AsyncVideoService
from ._settings import Settings
from ._sync import BatchService, SoraVideo, VideoService

__version__ = "0.1.0"

__all__ = [
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
    "Clock",
    "ConflictError",
    "CreateVideoRequest",
    "FieldError",
    "Job",
    "JobError",
    "JobEvent",
    "JobNotFoundError",
    "JobPriority",
    "JobStateError",
    "JobStatus",
    "JobTimeoutError",
    "ManualClock",
    "NotFoundError",
    "Page",
    "PermissionDeniedError",
    "ProviderConnectionError",
    "ProviderError",
    "ProviderTimeoutError",
    "ProviderUnavailableError",
    "RateLimitError",
    "RepositoryError",
    "RunnerStats",
    "Settings",
    "SoraVideo",
    "SoraVideoError",
    "SystemClock",
    "ValidationError",
    "VideoResult",
    "VideoService",
    "VirtualClock",
    "__version__",
    "converter",
]
