"""Hostile answers: what a broken or malicious provider sends, for the fakes' hostile mode.

``fake.hostile(kind, **options)`` (see ``FakeServer.hostile``) adds a
[`Fault`][soravideo.testing.Fault] whose answer is one of the kinds below instead of the
fake's own. Kinds that *change* the fake's answer (its JSON, its body, its headers) need
that answer, so they act after the request took effect (``phase="after"``: a create
made its video); kinds that *replace* the answer may also act before
(``phase="before"``: nothing happened).

==================== ======= =================================================================
kind                 phases  the answer
==================== ======= =================================================================
``wrong_types``      after   each field of each resource gets a value of another type:
                             ``id`` a list, a string a number (``status: 42``), a number a
                             string, an object a list, a list an object, null ``true``
                             (``fields=``: only these)
``missing_fields``   after   each resource keeps only the fields in ``keep`` (``("id",)``)
``huge_numbers``     after   every number becomes ``value`` (``10**400``); floats become
                             ``1e999`` (infinity once parsed)
``nested_garbage``   after   each field (``fields=``: only these) becomes arrays and objects
                             nested ``depth`` deep (64; 100 000 exhausts a recursive parser)
``bad_id``           after   each resource's id (and a list's ``first_id``/``last_id``)
                             becomes ``id`` (``".."``; see ``HOSTILE_IDS``). On the
                             answer of the create that made it, the job really takes that
                             id at the fake (a request that quotes it finds it); elsewhere
                             only the answer says it
``fields``           after   each resource gets these ``values`` (``{"output":
                             ["file:///etc/passwd"]}``)
``html_body``        both    ``status`` (200) with an HTML error page (``body=`` to choose)
``json_error_body``  both    ``status`` (200) with a JSON error object
``not_video``        after   the body's bytes replaced by seeded noise of the same length,
                             headers kept (a ``video/mp4`` that is not one)
``truncated``        after   only ``keep`` bytes of the body (half); with
                             ``content_length=True`` the full length is announced and the
                             connection ends short (a client can tell), with ``False`` the
                             body is delimited by closing the connection (it cannot)
``endless``          after   the body, then zeros for ever (served: until the client hangs
                             up; ``limit=`` bytes at most, then the connection is cut)
``huge_length``      after   ``Content-Length: length`` (``10**15``) over the real body, then
                             the connection ends
``redirect``         both    ``status`` (302) to ``to`` (a URL: another origin, a path, a
                             ``file:`` URL …)
``retry_after``      both    ``status`` (429) in the provider's error shape with
                             ``Retry-After: value`` (``"1e12"``, ``"-5"``, ``"nan"``, a date
                             …) and ``retry-after-ms: ms`` when given
``headers``          after   these ``headers`` added to the answer; characters ``\\x80``–
                             ``\\xff`` go out as those raw bytes (not UTF-8), so a header can
                             be huge, non-UTF-8 or absurd; with ``status``, the answer's
                             status becomes it too (a 500 whose ``x-request-id`` is garbage)
==================== ======= =================================================================

A *resource* is what the answer describes: the JSON object itself, or each item of a list
answer's ``data``. A JSON-changing kind leaves a non-JSON answer (a video) as it is.
"""

from __future__ import annotations

import json
import random
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any, Literal

import attrs

if TYPE_CHECKING:
    from ._fakeserver import FakeRequest, FakeResponse, FakeServer, Fault

__all__ = ["HOSTILE_IDS", "HOSTILE_KINDS", "HostileKind", "StreamCounters"]

HostileKind = Literal[
    "wrong_types",
    "missing_fields",
    "huge_numbers",
    "nested_garbage",
    "bad_id",
    "fields",
    "html_body",
    "json_error_body",
    "not_video",
    "truncated",
    "endless",
    "huge_length",
    "redirect",
    "retry_after",
    "headers",
]
"""The kinds of hostile answer (see the module's table)."""

HOSTILE_IDS: tuple[str, ...] = (
    ".",
    "..",
    "a/b",
    "a\\b",
    "%2e%2e",
    "..%2f..",
    "../../etc/passwd",
    "vid\r\nx-injected: 1",
    "vid\x00",
    "vid\x1b[31m",
)
"""Remote ids a hostile provider may answer with: dot segments, separators, encoded dots,
control characters. A client must refuse every one rather than put it in a URL or a path."""

_REQUIRED = object()
_HUGE_FLOAT = "__soravideo_huge_float__"
_GARBAGE = "__soravideo_garbage__"
_CHUNK = 64 * 1024

_HTML_PAGE = (
    "<!DOCTYPE html>\n<html><head><title>502 Bad Gateway</title></head>\n"
    "<body><h1>Bad Gateway</h1><p>The upstream server sent an invalid response. "
    "Please try again later.</p></body></html>\n"
)


@attrs.frozen
class _Spec:
    options: Mapping[str, Any]
    replaces: bool  # builds its whole answer, so it may act before the request takes effect
    phase: Literal["before", "after"]


_SPECS: Mapping[str, _Spec] = {
    "wrong_types": _Spec({"fields": None}, False, "after"),
    "missing_fields": _Spec({"keep": ("id",)}, False, "after"),
    "huge_numbers": _Spec({"value": 10**400}, False, "after"),
    "nested_garbage": _Spec({"depth": 64, "fields": None}, False, "after"),
    "bad_id": _Spec({"id": ".."}, False, "after"),
    "fields": _Spec({"values": _REQUIRED}, False, "after"),
    "html_body": _Spec({"status": 200, "body": _HTML_PAGE}, True, "after"),
    "json_error_body": _Spec({"status": 200}, True, "after"),
    "not_video": _Spec({}, False, "after"),
    "truncated": _Spec({"keep": None, "content_length": True}, False, "after"),
    "endless": _Spec({"limit": None, "chunk": _CHUNK}, False, "after"),
    "huge_length": _Spec({"length": 10**15}, False, "after"),
    "redirect": _Spec({"to": _REQUIRED, "status": 302}, True, "before"),
    "retry_after": _Spec({"value": "1e12", "status": 429, "ms": None}, True, "before"),
    "headers": _Spec({"headers": _REQUIRED, "status": None}, False, "after"),
}

HOSTILE_KINDS: tuple[str, ...] = tuple(_SPECS)
"""Every kind ``FakeServer.hostile`` accepts, in the order of the table above."""


def resolve(
    kind: str, options: Mapping[str, Any], phase: Literal["before", "after"] | None
) -> tuple[dict[str, Any], Literal["before", "after"]]:
    """Check a hostile kind's options and phase; return them with the defaults filled in.

    Raises:
        ValueError: an unknown kind or option, a missing required option, or a phase the
            kind cannot act in.
    """
    spec = _SPECS.get(kind)
    if spec is None:
        raise ValueError(f"unknown hostile kind {kind!r}; one of {', '.join(_SPECS)}")
    unknown = sorted(set(options) - set(spec.options))
    if unknown:
        allowed = ", ".join(spec.options) or "none"
        raise ValueError(f"hostile {kind!r} takes no option {', '.join(unknown)} ({allowed})")
    merged = {**spec.options, **options}
    missing = [name for name, value in merged.items() if value is _REQUIRED]
    if missing:
        raise ValueError(f"hostile {kind!r} needs {', '.join(missing)}")
    chosen = phase or spec.phase
    if chosen == "before" and not spec.replaces:
        raise ValueError(f"hostile {kind!r} changes the fake's answer: it acts after the request")
    return merged, chosen


@attrs.define(eq=False)
class StreamCounters:
    """What a fault's streamed bodies did: bytes sent, streams opened and closed.

    A stream counts as closed once the fake has stopped sending it, for whatever reason:
    the body ended, the client hung up, or the server shut down.
    """

    sent_bytes: int = 0
    opened: int = 0
    closed: int = 0
    _changed: threading.Condition = attrs.field(factory=threading.Condition, repr=False)

    @property
    def open(self) -> int:
        """How many streams are still being sent."""
        with self._changed:
            return self.opened - self.closed

    def wait_closed(self, timeout: float) -> bool:
        """Wait until every stream opened so far has closed; return whether they all did."""
        with self._changed:
            return self._changed.wait_for(lambda: self.opened == self.closed, timeout)

    def track(self, chunks: Iterable[bytes]) -> Iterator[bytes]:
        """Return ``chunks`` counted: bytes sent, and the stream's opening and closing."""
        with self._changed:
            self.opened += 1
        try:
            for chunk in chunks:
                with self._changed:
                    self.sent_bytes += len(chunk)
                yield chunk
        finally:
            with self._changed:
                self.closed += 1
                self._changed.notify_all()


# -- building the answers ---------------------------------------------------------------


def answer(
    fake: FakeServer, fault: Fault, request: FakeRequest, response: FakeResponse | None
) -> FakeResponse:
    """Return the hostile answer of ``fault`` (``response``: the fake's own, after the request).

    Args:
        fake: The fake answering (its error shape, its seed).
        fault: The hostile fault that fired.
        request: The request.
        response: The fake's own answer, or ``None`` before the request took effect.

    Returns:
        What to send instead.
    """
    from ._fakeserver import FakeResponse

    assert fault.hostile is not None
    kind, options = fault.hostile, fault.options
    if kind == "html_body":
        return FakeResponse(
            status=int(options["status"]),
            headers={"content-type": "text/html; charset=utf-8"},
            body=str(options["body"]).encode(),
        )
    if kind == "json_error_body":
        return FakeResponse.json(
            int(options["status"]),
            {
                "error": {
                    "message": "The server had an error while processing your request.",
                    "type": "server_error",
                    "code": "internal_error",
                }
            },
        )
    if kind == "redirect":
        return FakeResponse(
            status=int(options["status"]),
            headers={"location": str(options["to"]), "content-type": "text/plain"},
            body=b"Found",
        )
    if kind == "retry_after":
        headers = {"retry-after": str(options["value"])}
        if options["ms"] is not None:
            headers["retry-after-ms"] = str(options["ms"])
        return fake.error_response(
            int(options["status"]),
            "Rate limit reached for requests (hostile Retry-After).",
            code="rate_limit_exceeded",
            headers=headers,
        )
    assert response is not None, f"hostile {kind!r} acts after the request"
    if kind == "headers":
        changed = response.with_headers(dict(options["headers"]))
        status = options["status"]
        return changed if status is None else attrs.evolve(changed, status=int(status))
    if kind == "bad_id" and response.tag == "created":
        _rename_created(fake, response, str(options["id"]))
    if kind in _JSON_KINDS:
        return _rewrite_json(response, _JSON_KINDS[kind](options))
    return _BODY_KINDS[kind](fake, fault, response)


# -- JSON answers -------------------------------------------------------------------------


def _rename_created(fake: FakeServer, response: FakeResponse, new: str) -> None:
    """The provider really named its new job ``new``: so does the fake."""
    try:
        created = json.loads(response.body) if isinstance(response.body, bytes) else None
    except ValueError:
        return
    if isinstance(created, dict) and isinstance(created.get("id"), str):
        fake.rename_job(created["id"], new)


_Resource = dict[str, Any]


def _other_type(name: str, value: Any) -> Any:
    if name == "id":
        return [value]
    if isinstance(value, bool):
        return "yes"
    if isinstance(value, str):
        return 42
    if isinstance(value, (int, float)):
        return "a lot"
    if isinstance(value, dict):
        return ["not", "an", "object"]
    if isinstance(value, list):
        return {"not": "a list"}
    return True


def _selected(resource: _Resource, fields: Iterable[str] | None) -> list[str]:
    return list(resource) if fields is None else [f for f in fields if f in resource]


def _wrong_types(options: Mapping[str, Any]) -> Callable[[_Resource], _Resource]:
    def change(resource: _Resource) -> _Resource:
        for name in _selected(resource, options["fields"]):
            resource[name] = _other_type(name, resource[name])
        return resource

    return change


def _missing_fields(options: Mapping[str, Any]) -> Callable[[_Resource], _Resource]:
    keep = set(options["keep"])
    return lambda resource: {k: v for k, v in resource.items() if k in keep}


def _huge(value: Any, huge: int) -> Any:
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return huge
    if isinstance(value, float):
        return _HUGE_FLOAT
    if isinstance(value, dict):
        return {k: _huge(v, huge) for k, v in value.items()}
    if isinstance(value, list):
        return [_huge(v, huge) for v in value]
    return value


def _huge_numbers(options: Mapping[str, Any]) -> Callable[[_Resource], _Resource]:
    return lambda resource: _huge(resource, int(options["value"]))


def _nested_garbage(options: Mapping[str, Any]) -> Callable[[_Resource], _Resource]:
    def change(resource: _Resource) -> _Resource:
        for name in _selected(resource, options["fields"]):
            resource[name] = _GARBAGE
        return resource

    return change


def _bad_id(options: Mapping[str, Any]) -> Callable[[_Resource], _Resource]:
    def change(resource: _Resource) -> _Resource:
        resource["id"] = str(options["id"])
        return resource

    return change


def _fields(options: Mapping[str, Any]) -> Callable[[_Resource], _Resource]:
    return lambda resource: {**resource, **dict(options["values"])}


@attrs.frozen
class _JsonChange:
    change: Callable[[_Resource], _Resource]
    garbage_depth: int = 0
    list_ids: str | None = None  # a bad_id also rewrites a list's first_id and last_id


def _json_kind(
    build: Callable[[Mapping[str, Any]], Callable[[_Resource], _Resource]],
) -> Callable[[Mapping[str, Any]], _JsonChange]:
    return lambda options: _JsonChange(build(options))


_JSON_KINDS: Mapping[str, Callable[[Mapping[str, Any]], _JsonChange]] = {
    "wrong_types": _json_kind(_wrong_types),
    "missing_fields": _json_kind(_missing_fields),
    "huge_numbers": _json_kind(_huge_numbers),
    "nested_garbage": lambda o: _JsonChange(_nested_garbage(o), garbage_depth=int(o["depth"])),
    "bad_id": lambda o: _JsonChange(_bad_id(o), list_ids=str(o["id"])),
    "fields": _json_kind(_fields),
}


def _garbage_text(depth: int) -> str:
    # Written as text: a structure this deep would exhaust the fake's own recursion.
    return '[{"g":' * depth + '"\\u0000\\ud800"' + "}]" * depth


def _rewrite_json(response: FakeResponse, how: _JsonChange) -> FakeResponse:
    if not isinstance(response.body, bytes) or "json" not in _content_type(response):
        return response
    try:
        payload = json.loads(response.body)
    except ValueError:
        return response
    if not isinstance(payload, dict):
        return response
    items = payload.get("data")
    if payload.get("object") == "list" and isinstance(items, list):
        payload["data"] = [how.change(dict(i)) if isinstance(i, dict) else i for i in items]
        if how.list_ids is not None:
            for name in ("first_id", "last_id"):
                if payload.get(name) is not None:
                    payload[name] = how.list_ids
    else:
        payload = how.change(payload)
    text = json.dumps(payload)
    text = text.replace(f'"{_HUGE_FLOAT}"', "1e999")
    text = text.replace(f'"{_GARBAGE}"', _garbage_text(how.garbage_depth))
    headers = {k: v for k, v in response.headers.items() if k.lower() != "content-length"}
    return attrs.evolve(response, headers=headers, body=text.encode())


def _content_type(response: FakeResponse) -> str:
    for name, value in response.headers.items():
        if name.lower() == "content-type":
            return value.lower()
    return ""


# -- bodies -------------------------------------------------------------------------------


def _whole(body: bytes | Iterable[bytes]) -> bytes:
    return body if isinstance(body, bytes) else b"".join(body)


def _without_length(headers: Mapping[str, str]) -> dict[str, str]:
    return {k: v for k, v in headers.items() if k.lower() != "content-length"}


def _not_video(fake: FakeServer, fault: Fault, response: FakeResponse) -> FakeResponse:
    data = _whole(response.body)
    noise = random.Random(f"{fake.seed}:hostile:{fault.fired}").randbytes(len(data))
    # Never starts like a container by chance: the first bytes are text.
    noise = b"NOT A VIDEO " + noise[12:] if len(noise) >= 12 else noise
    return attrs.evolve(response, body=noise)


def _truncated(fake: FakeServer, fault: Fault, response: FakeResponse) -> FakeResponse:
    data = _whole(response.body)
    keep = fault.options["keep"]
    kept = data[: len(data) // 2 if keep is None else max(0, int(keep))]
    if fault.options["content_length"]:
        headers = {**_without_length(response.headers), "content-length": str(len(data))}
        return attrs.evolve(response, headers=headers, body=kept, abort=True)
    return attrs.evolve(
        response, headers=_without_length(response.headers), body=kept, framing="close"
    )


def _endless_chunks(head: bytes, chunk: int, limit: int | None) -> Iterator[bytes]:
    sent = 0
    for start in range(0, len(head), chunk):
        piece = head[start : start + chunk]
        if limit is not None and sent + len(piece) > limit:
            piece = piece[: limit - sent]
        if piece:
            sent += len(piece)
            yield piece
    filler = bytes(chunk)
    while limit is None or sent < limit:
        piece = filler if limit is None else filler[: min(chunk, limit - sent)]
        sent += len(piece)
        yield piece


def _endless(fake: FakeServer, fault: Fault, response: FakeResponse) -> FakeResponse:
    head = _whole(response.body)
    chunk = max(1, int(fault.options["chunk"]))
    limit = fault.options["limit"]
    body = fault.streams.track(
        _endless_chunks(head, chunk, None if limit is None else max(0, int(limit)))
    )
    return attrs.evolve(response, headers=_without_length(response.headers), body=body, abort=True)


def _huge_length(fake: FakeServer, fault: Fault, response: FakeResponse) -> FakeResponse:
    data = _whole(response.body)
    headers = {**_without_length(response.headers), "content-length": str(fault.options["length"])}
    return attrs.evolve(response, headers=headers, body=data, abort=True)


_BODY_KINDS: Mapping[str, Callable[[FakeServer, Fault, FakeResponse], FakeResponse]] = {
    "not_video": _not_video,
    "truncated": _truncated,
    "endless": _endless,
    "huge_length": _huge_length,
}
