"""The docs site, built once per test run for the tests that read it."""

from __future__ import annotations

import fcntl
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Build the site with ``mkdocs build --strict``: any warning fails, an unresolved
    cross-reference included.

    Skipped only where mkdocs is not installed, and never in CI (``CI`` set): there it fails.
    """
    try:
        import material  # noqa: F401
        import mkdocs  # noqa: F401
        import mkdocstrings  # noqa: F401
    except ImportError as exc:
        if os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no"):
            pytest.fail(f"the docs cannot be built in CI: {exc}", pytrace=False)
        pytest.skip(f"mkdocs is not installed ({exc}): pip install -e '.[dev]'")
    # pytest-xdist's workers share the parent of their own temporary folders: the first
    # worker to ask builds the site there, under a lock, and the others read that build.
    base = tmp_path_factory.getbasetemp()
    shared = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base
    out = shared / "docs-site"
    built = shared / "docs-site.built"
    with (shared / "docs-site.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not built.exists():
            env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
            result = subprocess.run(
                [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(out)],
                cwd=ROOT,
                env=env,
                capture_output=True,
                text=True,
                timeout=120,
            )
            assert result.returncode == 0, result.stdout + result.stderr
            built.touch()
    return out
