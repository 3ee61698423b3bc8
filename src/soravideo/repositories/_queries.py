"""Named SQL queries, kept in ``.sql`` files beside the backends that run them.

A query file is a sequence of blocks, each opened by a ``-- name: <name>`` line and running
to the next one::

    -- name: get_job
    SELECT data FROM jobs WHERE id = :id;

Comment lines before the first block describe the file. Blocks named ``migration_<N>`` are
schema migrations, applied in the order of ``N`` (see ``migrations``). Each backend keeps
its own file, in its driver's parameter style.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from importlib import resources
from types import MappingProxyType

__all__ = ["load_queries", "migrations", "parse_queries"]

_NAME = re.compile(r"^--\s*name:\s*(\S+)\s*$")
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_MIGRATION = re.compile(r"^migration_([0-9]+)$")


def parse_queries(text: str, *, source: str = "<string>") -> dict[str, str]:
    """Split the text of a query file into its named queries.

    Args:
        text: The file's text.
        source: The file's name, for error messages.

    Returns:
        Each query's text (trailing whitespace removed) by name, in file order.

    Raises:
        ValueError: SQL before the first name, a bad or repeated name, or an empty query.
    """
    queries: dict[str, list[str]] = {}
    current: list[str] | None = None
    for number, line in enumerate(text.splitlines(), start=1):
        match = _NAME.match(line.strip())
        if match:
            name = match[1]
            if not _IDENTIFIER.match(name):
                raise ValueError(f"{source}:{number}: {name!r} is not a valid query name")
            if name in queries:
                raise ValueError(f"{source}:{number}: query {name!r} is defined twice")
            current = queries[name] = []
        elif current is not None:
            current.append(line)
        elif line.strip() and not line.lstrip().startswith("--"):
            raise ValueError(f"{source}:{number}: SQL outside a '-- name:' block")
    result: dict[str, str] = {}
    for name, lines in queries.items():
        body = "\n".join(lines).strip()
        if not body:
            raise ValueError(f"{source}: query {name!r} is empty")
        result[name] = body
    return result


@functools.cache
def load_queries(filename: str, package: str = "soravideo.repositories") -> Mapping[str, str]:
    """Load the named queries of ``<package>/sql/<filename>`` (read once, then cached).

    Args:
        filename: The query file, e.g. ``"sqlite.sql"``.
        package: The package whose ``sql`` folder holds the file.

    Returns:
        A read-only mapping of query name to SQL text.

    Raises:
        FileNotFoundError: the file is not in the package.
        ValueError: the file is malformed (see ``parse_queries``).
    """
    text = resources.files(package).joinpath("sql").joinpath(filename).read_text(encoding="utf-8")
    # Read-only: the cached mapping is shared by every repository.
    return MappingProxyType(parse_queries(text, source=filename))


def migrations(queries: Mapping[str, str]) -> list[tuple[int, str]]:
    """Return the ``migration_<N>`` queries as ``(N, sql)`` pairs, in ascending order.

    Raises:
        ValueError: the numbers do not run 1, 2, 3 … without a gap.
    """
    found = sorted(
        (int(match[1]), sql) for name, sql in queries.items() if (match := _MIGRATION.match(name))
    )
    numbers = [number for number, _ in found]
    if numbers != list(range(1, len(numbers) + 1)):
        raise ValueError(f"migrations must be numbered 1, 2, 3 … without gaps, got {numbers}")
    return found
