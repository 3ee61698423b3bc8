"""The sync twin (``SoraVideo``, ``client.videos``, ``client.batches``) cannot drift from the async API.

For every public member of the async clients and services, its sync twin has

- the same name (``close`` for ``aclose``) and kind (method, or attribute / property);
- the same parameters: names, kinds, defaults and annotations;
- the same return (or attribute) type once the async wrapping is taken off
  (``sync_type``): a coroutine's ``X`` and an ``Awaitable[X]`` are ``X``,
  ``AsyncIterator[X]`` is ``Iterator[X]``, and each async class is its sync twin;
- the same docstring, read as mkdocstrings reads it (griffe, statically, Google style), once
  the async wording is put into sync words (``WORDING``: ``AsyncSoraVideo`` →
  ``SoraVideo``, ``aclose`` → ``close``, ``async with`` → ``with``, no ``await``). Only the
  descriptions in ``OWN_DESCRIPTION`` say something else (how blocking code stops, where
  the engine runs) and show it in their own examples; their Args, Returns and Raises still
  match section for section.

And every parameter of both is documented in ``Args``. When a sync docstring is off, the
failure shows the text it should have.
"""

from __future__ import annotations

import collections.abc as abc
import contextlib
import functools
import inspect
import operator
import re
import sys
import types
import typing
from pathlib import Path
from typing import Any

import griffe
import pytest

import soravideo as sv
from soravideo.testing import FakeSora
from soravideo.testing._fakeserver import FakeServer

SRC = Path(__file__).resolve().parents[1] / "src"

# (sync, async): the public classes, by their public names.
PAIRS = [
    ("SoraVideo", "AsyncSoraVideo"),
    ("VideoService", "AsyncVideoService"),
    ("BatchService", "AsyncBatchService"),
    ("WebhookService", "AsyncWebhookService"),
]
# Sync member name -> async member name, where they differ.
RENAMED = {"close": "aclose"}
# Public async members without a sync twin, and why.
ASYNC_ONLY = {
    ("AsyncSoraVideo", "run_background"): "the engine's loop: the sync client runs it itself",
    ("AsyncSoraVideo", "events"): "the engine's event bus; both clients subscribe with on()",
}
# Sync docstrings whose description (not their sections) is their own, and why.
OWN_DESCRIPTION = {
    ("SoraVideo", ""): "the engine runs on the client's own thread, not in an async with block",
    ("SoraVideo", "run_worker"): "a blocking worker stops on SIGTERM, Ctrl-C or close()",
    ("SoraVideo", "close"): "no async with block, so no task it must be closed from",
}
# Async methods that are plain functions (nothing to await) on both sides: ``as_completed``
# checks its arguments at once and returns an iterator (async, or its sync twin).
NOT_AWAITED = {"on", "health", "simulated", "validate", "estimate_cost", "as_completed"}

# The async wording and its sync words, applied in this order to every async docstring.
WORDING = [
    (r"\basync with\b", "with"),
    (r"\basync for\b", "for"),
    (r"\bawait ", ""),
    (r"\bAsyncSoraVideo\b", "SoraVideo"),
    (r"\bAsyncVideoService\b", "VideoService"),
    (r"\bAsyncBatchService\b", "BatchService"),
    (r"\bAsyncWebhookService\b", "WebhookService"),
    (r"\baclose\b", "close"),
]

SYNC_OF_CLASS: dict[Any, Any] = {getattr(sv, a): getattr(sv, s) for s, a in PAIRS}
_WRAPPERS: dict[Any, Any] = {
    abc.AsyncIterator: abc.Iterator,
    abc.AsyncIterable: abc.Iterable,
    contextlib.AbstractAsyncContextManager: contextlib.AbstractContextManager,
}


def to_sync(text: str) -> str:
    """Put an async docstring into the sync twin's words (``WORDING``)."""
    for pattern, words in WORDING:
        text = re.sub(pattern, words, text)
    return text


def sync_type(tp: Any) -> Any:
    """Return the type the sync twin has where the async API has ``tp``."""
    if tp in SYNC_OF_CLASS:
        return SYNC_OF_CLASS[tp]
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin is None or not args:
        return tp
    if origin in (abc.Awaitable, abc.Coroutine):
        return sync_type(args[-1])
    if origin is abc.AsyncGenerator:
        return abc.Generator[sync_type(args[0]), sync_type(args[1]), None]
    if origin in (types.UnionType, typing.Union):
        return functools.reduce(operator.or_, [sync_type(a) for a in args])
    if origin is abc.Callable:
        return tp  # a callback is called by the engine, which awaits what needs awaiting
    return _WRAPPERS.get(origin, origin)[tuple(sync_type(a) for a in args)]


@pytest.fixture(scope="module")
def api() -> griffe.Object | griffe.Alias:
    """The package as mkdocstrings sees it: loaded by griffe from the source, not imported."""
    return griffe.load("soravideo", search_paths=[str(SRC)])


def _public(cls: griffe.Object | griffe.Alias) -> dict[str, griffe.Object | griffe.Alias]:
    return {
        name: member
        for name, member in cls.members.items()
        if not name.startswith("_") and member.kind.value in ("function", "attribute")
    }


def _members(api: griffe.Object | griffe.Alias, sync: str, async_: str) -> list[tuple[str, str]]:
    """The (sync name, async name) of each public member, and ``("", "")`` for the class."""
    names = [(name, RENAMED.get(name, name)) for name in _public(api[sync])]
    return [("", ""), *names]


def _namespace(cls: type) -> dict[str, Any]:
    # The names an annotation may use: the module's own, and those it imports only for
    # type checkers (``if TYPE_CHECKING:``), which the public package has too.
    return {
        **vars(sv),
        "FakeSora": FakeSora,
        "FakeServer": FakeServer,
        **vars(sys.modules[cls.__module__]),
    }


def _hints(fn: Any, owner: type) -> dict[str, Any]:
    return typing.get_type_hints(fn, globalns=_namespace(owner))


def _parameters(fn: Any) -> list[tuple[str, Any, Any]]:
    params = list(inspect.signature(fn).parameters.values())
    if params and params[0].name == "self":
        params = params[1:]
    return [(p.name, p.kind, p.default) for p in params]


def _documented_name(p: inspect.Parameter) -> str:
    stars = {inspect.Parameter.VAR_POSITIONAL: "*", inspect.Parameter.VAR_KEYWORD: "**"}
    return stars.get(p.kind, "") + p.name


def _sections(obj: griffe.Object | griffe.Alias, *, text: bool = True) -> list[Any]:
    """The parsed docstring: each section's kind and its items' names and descriptions
    (without its text and examples unless ``text``).

    Descriptions are compared word for word: how their lines are wrapped does not count.
    """
    assert obj.docstring is not None and obj.docstring.value.strip(), f"{obj.path}: no docstring"
    out: list[Any] = []
    for section in obj.docstring.parse("google"):
        kind = section.kind.value
        if kind in ("text", "examples") and not text:
            continue
        if kind == "examples":  # (text or doctest, text) pairs: code is compared as written
            out.append((kind, [(part.value, text) for part, text in section.value]))
        elif isinstance(section.value, list):
            items = [
                (
                    str(item.annotation) if kind == "raises" else item.name,
                    " ".join(item.description.split()),
                )
                for item in section.value
            ]
            out.append((kind, items))
        else:
            out.append((kind, " ".join(str(section.value).split())))
    return out


def _sync_sections(sections: list[Any]) -> list[Any]:
    def words(value: Any) -> Any:
        if isinstance(value, str):
            return to_sync(value)
        if isinstance(value, (list, tuple)):
            return type(value)(words(v) for v in value)
        return value

    return words(sections)  # type: ignore[no-any-return]


@pytest.mark.parametrize(("sync", "async_"), PAIRS)
def test_the_twins_have_the_same_public_members(api: Any, sync: str, async_: str) -> None:
    sync_members = _public(api[sync])
    async_members = _public(api[async_])
    only = {name for cls, name in ASYNC_ONLY if cls == async_}
    assert {RENAMED.get(n, n) for n in sync_members} == set(async_members) - only
    for name, member in sync_members.items():
        assert member.kind == async_members[RENAMED.get(name, name)].kind, name


@pytest.mark.parametrize(("sync", "async_"), PAIRS)
def test_each_method_has_its_twins_signature_and_types(sync: str, async_: str) -> None:
    sync_cls, async_cls = getattr(sv, sync), getattr(sv, async_)
    names = [
        name
        for name, member in inspect.getmembers(sync_cls)
        if not name.startswith("_") and callable(member) and not isinstance(member, type)
    ]
    if sync == "SoraVideo":
        names.append("__init__")  # the services are made by their client, not by hand
    assert names
    for name in names:
        mine, twin = getattr(sync_cls, name), getattr(async_cls, RENAMED.get(name, name))
        assert _parameters(mine) == _parameters(twin), name
        assert not inspect.iscoroutinefunction(mine), name
        assert not inspect.isasyncgenfunction(mine), name
        if name not in NOT_AWAITED | {"__init__"}:
            assert inspect.iscoroutinefunction(twin), name
        mine_hints, twin_hints = _hints(mine, sync_cls), _hints(twin, async_cls)
        assert mine_hints == {k: sync_type(v) for k, v in twin_hints.items()}, name


@pytest.mark.parametrize(("sync", "async_"), PAIRS)
def test_each_attribute_has_its_twins_type(api: Any, sync: str, async_: str) -> None:
    sync_cls, async_cls = getattr(sv, sync), getattr(sv, async_)
    for name, member in _public(api[sync]).items():
        if member.kind.value != "attribute":
            continue
        twin = api[async_].members[name]
        assert member.annotation is not None and twin.annotation is not None, name
        mine = eval(str(member.annotation), _namespace(sync_cls))
        theirs = eval(str(twin.annotation), _namespace(async_cls))
        assert mine == sync_type(theirs), name


@pytest.mark.parametrize(("sync", "async_"), PAIRS)
def test_each_docstring_says_what_its_twins_does(api: Any, sync: str, async_: str) -> None:
    for mine_name, twin_name in _members(api, sync, async_):
        mine = api[f"{sync}.{mine_name}"] if mine_name else api[sync]
        twin = api[f"{async_}.{twin_name}"] if twin_name else api[async_]
        where = f"{sync}.{mine_name}".rstrip(".")
        if (sync, mine_name) in OWN_DESCRIPTION:
            expected = _sync_sections(_sections(twin, text=False))
            assert _sections(mine, text=False) == expected, where
            continue
        assert twin.docstring is not None, f"{async_}.{twin_name}: no docstring"
        expected_text = to_sync(twin.docstring.value)
        got = mine.docstring.value if mine.docstring is not None else None
        assert got == expected_text, (
            f"{where}: the docstring should be, as its async twin's says:\n\n{expected_text}"
        )


@pytest.mark.parametrize("name", [name for pair in PAIRS for name in pair])
def test_every_parameter_is_documented(api: Any, name: str) -> None:
    cls = getattr(sv, name)
    methods = [
        (member_name, getattr(cls, member_name))
        for member_name, member in _public(api[name]).items()
        if member.kind.value == "function"
    ]
    if name.endswith("SoraVideo"):
        methods.append(("", cls.__init__))  # documented in the class docstring
    for member_name, fn in methods:
        params = list(inspect.signature(fn).parameters.values())
        wanted = [_documented_name(p) for p in params if p.name not in ("self", "cls")]
        doc = api[f"{name}.{member_name}"] if member_name else api[name]
        documented = [
            item[0] for kind, items in _sections(doc) if kind == "parameters" for item in items
        ]
        assert documented == wanted, f"{name}.{member_name}: Args"


def test_sync_type_takes_off_the_async_wrapping() -> None:
    assert sync_type(abc.Awaitable[int]) is int
    assert sync_type(abc.Coroutine[Any, Any, sv.Job]) is sv.Job
    assert sync_type(abc.AsyncIterator[sv.Job]) == abc.Iterator[sv.Job]
    assert sync_type(abc.AsyncGenerator[int, None]) == abc.Generator[int, None, None]
    assert sync_type(sv.AsyncVideoService | None) == (sv.VideoService | None)
    assert sync_type(list[sv.AsyncSoraVideo]) == list[sv.SoraVideo]
    callback = abc.Callable[[sv.JobEvent], abc.Awaitable[None] | None]
    assert sync_type(callback) == callback
    assert (
        sync_type(contextlib.AbstractAsyncContextManager[sv.AsyncSoraVideo])
        == (contextlib.AbstractContextManager[sv.SoraVideo])
    )


def test_the_wording_turns_async_words_into_sync_ones() -> None:
    text = (
        "Use ``async with AsyncSoraVideo()``; ``aclose()`` is idempotent; "
        "``await client.videos.get_job(id)``; see "
        "[`process_batch`][soravideo.AsyncBatchService.process_batch]."
    )
    assert to_sync(text) == (
        "Use ``with SoraVideo()``; ``close()`` is idempotent; "
        "``client.videos.get_job(id)``; see "
        "[`process_batch`][soravideo.BatchService.process_batch]."
    )
