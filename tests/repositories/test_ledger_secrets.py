"""A ledger's DSN or path never shows its password: not in a repr, an error, or its chain.

psycopg quotes a malformed DSN whole in its messages, and a failed connection attempt keeps
the libpq connection (``exc.pgconn.password``, and its repr) on the exception.
"""

from __future__ import annotations

import traceback
from pathlib import Path

import pytest

from soravideo import RepositoryError
from soravideo.repositories import SQLiteRepository

SECRET = "dsn-SECRET-0123456789"

pytestmark = pytest.mark.anyio


def chain(error: BaseException) -> list[BaseException]:
    found: list[BaseException] = []
    pending: list[BaseException | None] = [error]
    while pending:
        current = pending.pop()
        if current is None or any(current is seen for seen in found):
            continue
        found.append(current)
        pending += [current.__cause__, current.__context__]
    return found


def shown(error: BaseException) -> str:
    texts = ["".join(traceback.format_exception(error))]
    for exc in chain(error):
        texts += [str(exc), repr(exc), repr(vars(exc))]
        for attr in ("pgconn", "filename", "filename2"):
            value = getattr(exc, attr, None)
            if value is not None:
                texts.append(repr(value))
                texts.append(repr(getattr(value, "password", None)))
    return "\n".join(texts)


@pytest.mark.parametrize(
    "dsn",
    [
        f"postgresql://admin:{SECRET}@127.0.0.1:1/ledger?connect_timeout=5",
        f"postgresql://admin:{SECRET}@127.0.0.1:notaport/ledger",
        f"postgresql://admin:{SECRET}@[::1/ledger",
        f"host=127.0.0.1 port=1 user=admin password={SECRET} connect_timeout=5",
        f"host=127.0.0.1 port=1 password='{SECRET}' junk",
    ],
)
async def test_a_postgres_dsn_password_is_in_no_error(dsn: str) -> None:
    pytest.importorskip("psycopg")
    from soravideo.repositories.postgres import PostgresRepository

    repository = PostgresRepository(dsn, timeout=5)
    assert SECRET not in repr(repository)
    with pytest.raises(RepositoryError) as info:
        await repository.open()
    await repository.aclose()
    assert SECRET not in shown(info.value)
    assert "***" in str(info.value) or "password" not in str(info.value)


@pytest.mark.postgres
async def test_a_refused_login_keeps_no_password(postgres_server: str) -> None:
    from psycopg import conninfo

    from soravideo.repositories.postgres import PostgresRepository

    dsn = conninfo.make_conninfo(postgres_server, dbname="no_such_ledger", password=SECRET)
    with pytest.raises(RepositoryError, match="no_such_ledger") as info:
        async with PostgresRepository(dsn, timeout=5):
            pass
    assert SECRET not in shown(info.value)


async def test_a_dsn_mistaken_for_a_sqlite_path_shows_no_password(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    path = blocker / f"postgress:/admin:{SECRET}@db/ledger"
    repository = SQLiteRepository(path)
    assert SECRET not in repr(repository)
    with pytest.raises(RepositoryError) as info:
        await repository.open()
    await repository.aclose()
    assert SECRET not in shown(info.value)
    with pytest.raises(RepositoryError) as closed:
        await repository.list_jobs()
    assert SECRET not in shown(closed.value)
