"""The public namespace: DESIGN.md §1 names, a sorted __all__, and a light import."""

from __future__ import annotations

import inspect
import subprocess
import sys

import attrs
import pytest

import soravideo as sv
import soravideo.repositories
import soravideo.transports

DESIGN_NAMES = {
    "AsyncSoraVideo",
    "SoraVideo",
    "Settings",
    "CreateVideoRequest",
    "BatchVideoRequest",
    "Job",
    "JobStatus",
    "JobPriority",
    "JobError",
    "VideoResult",
    "Batch",
    "BatchStatus",
    "BatchProgress",
    "BatchResult",
    "BatchStatusReport",
    "CancellationSummary",
    "Page",
    "SoraVideoError",
    "ValidationError",
    "NotFoundError",
    "JobNotFoundError",
    "BatchNotFoundError",
    "JobStateError",
    "JobTimeoutError",
    "BudgetExceededError",
    "RepositoryError",
    "ConflictError",
    "ProviderError",
    "AuthenticationError",
    "PermissionDeniedError",
    "RateLimitError",
    "ProviderUnavailableError",
    "ProviderConnectionError",
    "ProviderTimeoutError",
    "HealthReport",
    "ReadinessReport",
    "Metrics",
}


def test_all_is_sorted_and_complete() -> None:
    names = [n for n in sv.__all__ if not n.startswith("_")]

    def isort_style(name: str) -> tuple[int, str]:
        # CONSTANTS, then Classes, then functions: the order ruff's RUF022 keeps.
        kind = 0 if name.isupper() else 1 if name[0].isupper() else 2
        return kind, name

    assert names == sorted(names, key=isort_style)
    assert set(sv.__all__) >= DESIGN_NAMES
    for name in sv.__all__:
        assert hasattr(sv, name), name


def test_resume_summary_is_public_frozen_and_keyword_only() -> None:
    # DESIGN.md §6: ``summary = await client.resume()`` → ResumeSummary(jobs, batches).
    assert "ResumeSummary" in sv.__all__
    summary = sv.ResumeSummary(jobs=3, batches=1)
    assert (summary.jobs, summary.batches) == (3, 1)
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        summary.jobs = 4  # type: ignore[misc]
    with pytest.raises(TypeError):
        sv.ResumeSummary(3, 1)  # type: ignore[misc]
    for cls in (sv.AsyncSoraVideo, sv.SoraVideo):
        assert inspect.signature(cls.resume).parameters["download_dir"].kind is (
            inspect.Parameter.KEYWORD_ONLY
        )


def test_seam_modules_export_their_implementations() -> None:
    assert {"MemoryRepository", "SQLiteRepository", "PostgresRepository", "JobRepository"} <= set(
        soravideo.repositories.__all__
    )
    assert {"SoraTransport", "RunwayTransport", "Transport"} <= set(soravideo.transports.__all__)


def test_error_tree_matches_the_design() -> None:
    assert issubclass(sv.JobNotFoundError, sv.NotFoundError)
    assert issubclass(sv.BatchNotFoundError, sv.NotFoundError)
    assert issubclass(sv.JobTimeoutError, TimeoutError)
    assert issubclass(sv.ConflictError, sv.RepositoryError)
    for cls in (
        sv.AuthenticationError,
        sv.PermissionDeniedError,
        sv.RateLimitError,
        sv.ProviderUnavailableError,
        sv.ProviderConnectionError,
    ):
        assert issubclass(cls, sv.ProviderError)
    assert issubclass(sv.ProviderTimeoutError, sv.ProviderConnectionError)
    for cls in (sv.ValidationError, sv.NotFoundError, sv.JobStateError, sv.ProviderError):
        assert issubclass(cls, sv.SoraVideoError)


def test_import_stays_light() -> None:
    code = (
        "import sys, soravideo\n"
        "heavy = [m for m in ('psycopg', 'psycopg_pool', 'tqdm', 'hypothesis', 'pytest') if m in sys.modules]\n"
        "print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_import_loads_the_client_transports_and_ledgers_on_first_use() -> None:
    code = (
        "import sys, soravideo, soravideo.transports, soravideo.repositories\n"
        "lazy = ('httpx', 'tenacity', 'soravideo._engine.runner', 'soravideo._api.sync',\n"
        "        'soravideo.transports.sora', 'soravideo.transports.fal',\n"
        "        'soravideo.repositories.sqlite', 'soravideo.repositories.memory')\n"
        "print(','.join(m for m in lazy if m in sys.modules))\n"
        "names = set(dir(soravideo))\n"
        "assert set(soravideo.__all__) <= names, set(soravideo.__all__) - names\n"
        "assert set(soravideo.transports.__all__) <= set(dir(soravideo.transports))\n"
        "assert soravideo.SoraVideo.__name__ == 'SoraVideo'\n"
        "assert soravideo.transports.FalTransport.__name__ == 'FalTransport'\n"
        "assert soravideo.repositories.SQLiteRepository.__name__ == 'SQLiteRepository'\n"
        "assert 'SoraVideo' in vars(soravideo)  # cached after the first access\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_an_unknown_name_is_still_an_attribute_error() -> None:
    for module in (sv, soravideo.transports, soravideo.repositories):
        with pytest.raises(AttributeError, match="no_such_name"):
            module.no_such_name  # noqa: B018
