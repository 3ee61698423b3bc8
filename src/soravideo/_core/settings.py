"""Settings: keyword arguments of the facades, one ``Settings`` object, or ``SORAVIDEO_*`` variables."""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs

from .errors import FieldError
from .validation import raise_if

__all__ = ["DEFAULT_MAX_DOWNLOAD_BYTES", "Settings"]

DEFAULT_MAX_DOWNLOAD_BYTES = 4 * 1024**3
"""The default of ``Settings.max_download_bytes``: 4 GiB."""


def _opt_path(value: str | os.PathLike[str] | None) -> Path | None:
    return None if value is None else Path(value)


@attrs.frozen(kw_only=True)
class Settings:
    """How a client behaves. Every field has a sensible default.

    Args:
        max_concurrency: Generations in flight at once (the adaptive limit never exceeds it).
        requests_per_second: Token-bucket cap on provider requests.
        poll_min_interval: Shortest wait between two status checks of one job (seconds).
        poll_max_interval: Longest wait between two status checks of one job (seconds).
        max_retries: Retries of a failed provider request (safe requests only).
        request_timeout: Timeout of one provider request (seconds): connect, send, each read
            and waiting for a pooled connection. Applied to every request of an httpx
            transport (an injected ``httpx.AsyncClient`` included) unless the transport was
            built with its own ``timeout=``. A create that times out after sending is
            ambiguous: the runner reconciles it, never re-sends it blindly.
        download_dir: When set, completed videos are downloaded here automatically.
        max_batch_size: Most videos one batch may hold.
        lease_seconds: How long a worker's claim on a job lasts without renewal.
        close_timeout: Longest a ``close()`` / ``aclose()`` (or a stopping worker) waits for
            creates already on the wire to be answered and recorded (seconds, real time).
            A create still unanswered after it leaves its job resumable, never failed.
        max_retry_after: Longest pause a provider's ``Retry-After`` may impose (seconds);
            a longer one (seconds, ``retry-after-ms`` or an HTTP date) is capped to this,
            with one warning: in the runner's shared pause, and in an httpx transport's
            retry policy (``RetryPolicy.retry_after_cap``), so the ``retry_after`` of a
            [`RateLimitError`][soravideo.RateLimitError] it raises is capped too.
        max_download_bytes: The most bytes one download may have (default 4 GiB): a
            ``Content-Length`` above it is refused before any byte is read, and a body
            without one is stopped when it reaches it (an endless body cannot fill the
            disk). Either is a [`DownloadError`][soravideo.DownloadError] (``code="too_large"``)
            that leaves no file. ``SORAVIDEO_MAX_DOWNLOAD_BYTES`` sets it from the
            environment.

    Examples:
        ```python
        settings = sv.Settings(max_concurrency=8, poll_max_interval=30, download_dir="videos")
        client = sv.AsyncSoraVideo.simulated(settings=settings)
        print(client.settings.max_concurrency)  # 8
        await client.aclose()
        ```
    """

    max_concurrency: int = 4
    requests_per_second: float = 10.0
    poll_min_interval: float = 1.0
    poll_max_interval: float = 120.0
    max_retries: int = 3
    request_timeout: float = 60.0
    download_dir: Path | None = attrs.field(default=None, converter=_opt_path)
    max_batch_size: int = 10
    lease_seconds: float = 60.0
    close_timeout: float = 30.0
    max_retry_after: float = 300.0
    max_download_bytes: int = DEFAULT_MAX_DOWNLOAD_BYTES

    def __attrs_post_init__(self) -> None:
        errors: list[FieldError] = []

        def positive(name: str, value: float, *, integer: bool = False) -> None:
            if integer and (isinstance(value, bool) or not isinstance(value, int)):
                errors.append(FieldError(field=name, message="must be a whole number"))
            elif (
                isinstance(value, bool)
                or not isinstance(value, (int, float))
                or not 0 < value < math.inf
            ):
                # NaN compares false with everything: it would pass "> 0" and then never
                # let a timeout expire or a poll interval order; infinity never ends either.
                errors.append(FieldError(field=name, message="must be a positive, finite number"))

        positive("max_concurrency", self.max_concurrency, integer=True)
        positive("requests_per_second", self.requests_per_second)
        positive("poll_min_interval", self.poll_min_interval)
        positive("poll_max_interval", self.poll_max_interval)
        positive("request_timeout", self.request_timeout)
        positive("max_batch_size", self.max_batch_size, integer=True)
        positive("lease_seconds", self.lease_seconds)
        positive("close_timeout", self.close_timeout)
        positive("max_retry_after", self.max_retry_after)
        positive("max_download_bytes", self.max_download_bytes, integer=True)
        if (
            isinstance(self.max_retries, bool)
            or not isinstance(self.max_retries, int)
            or self.max_retries < 0
        ):
            errors.append(FieldError(field="max_retries", message="must be a whole number ≥ 0"))
        if not errors and self.poll_max_interval < self.poll_min_interval:
            errors.append(
                FieldError(field="poll_max_interval", message="must be ≥ poll_min_interval")
            )
        raise_if(errors, message="invalid settings")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Read ``SORAVIDEO_<FIELD>`` variables (e.g. ``SORAVIDEO_MAX_CONCURRENCY=8``).

        Examples:
            ```python
            environ = {"SORAVIDEO_MAX_CONCURRENCY": "8", "SORAVIDEO_DOWNLOAD_DIR": "videos"}
            settings = sv.Settings.from_env(environ, max_retries=5)  # os.environ when not given
            print(settings.max_concurrency, settings.download_dir, settings.max_retries)  # 8 videos 5
            ```
        """
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        errors: list[FieldError] = []
        for field in attrs.fields(cls):
            raw = env.get(f"SORAVIDEO_{field.name.upper()}")
            if raw is None or raw == "":
                continue
            if field.name == "download_dir":
                values[field.name] = raw
                continue
            kind = int if field.type in ("int", int) else float
            try:
                values[field.name] = kind(raw)
            except ValueError:
                errors.append(
                    FieldError(
                        field=f"SORAVIDEO_{field.name.upper()}", message=f"not a number: {raw!r}"
                    )
                )
        raise_if(errors, message="invalid environment settings")
        values.update(overrides)
        return cls(**values)

    def merge(self, **changes: Any) -> Settings:
        """Return a copy with some fields changed (unknown names are a ``TypeError``).

        Examples:
            ```python
            base = sv.Settings(max_concurrency=4)
            fast = base.merge(max_concurrency=16, poll_min_interval=0.5)
            print(base.max_concurrency, fast.max_concurrency)  # 4 16
            ```
        """
        return attrs.evolve(self, **changes)
