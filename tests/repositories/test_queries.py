"""The named-query loader shared by the SQL backends."""

from __future__ import annotations

import pytest

from soravideo.repositories._queries import load_queries, migrations, parse_queries

TEXT = """\
-- A file header: comments only.

-- name: first
SELECT 1;

-- name: second
-- A comment inside a query stays part of it.
SELECT 2
FROM t;
"""


def test_blocks_run_from_their_name_to_the_next() -> None:
    assert parse_queries(TEXT) == {
        "first": "SELECT 1;",
        "second": "-- A comment inside a query stays part of it.\nSELECT 2\nFROM t;",
    }


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("SELECT 1;\n-- name: a\nSELECT 2;", "outside"),
        ("-- name: a\nSELECT 1;\n-- name: a\nSELECT 2;", "twice"),
        ("-- name: a\n\n-- name: b\nSELECT 2;", "empty"),
        ("-- name: 1bad\nSELECT 1;", "not a valid query name"),
    ],
)
def test_malformed_files_are_refused(text: str, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        parse_queries(text, source="broken.sql")


def test_migrations_come_in_order_and_without_gaps() -> None:
    queries = {"migration_2": "B", "other": "X", "migration_10": "J", "migration_1": "A"}
    with pytest.raises(ValueError, match="without gaps"):
        migrations(queries)
    queries = {"migration_2": "B", "other": "X", "migration_1": "A"}
    assert migrations(queries) == [(1, "A"), (2, "B")]


def test_the_sqlite_file_loads_once_and_read_only() -> None:
    queries = load_queries("sqlite.sql")
    assert load_queries("sqlite.sql") is queries
    assert {"configure", "migration_1", "update_job", "claim_candidates"} <= set(queries)
    with pytest.raises(TypeError):
        queries["get_job"] = "DROP TABLE jobs"  # type: ignore[index]
    with pytest.raises(FileNotFoundError):
        load_queries("missing.sql")
