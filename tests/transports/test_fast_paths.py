"""[W2-4] The shortcuts a list refresh takes through every listed video give the answers of
the careful paths they skip: the remote-id rule's printable-ASCII shortcut, the redaction's
one look at the JSON text, and the depth check that walks containers only."""

from __future__ import annotations

import json
import unicodedata
from collections.abc import Mapping
from typing import Any

import httpx
import pytest
import respx
from hypothesis import given
from hypothesis import strategies as st

from soravideo._core.redact import REDACTED, _replace, redact
from soravideo.transports import SoraTransport
from soravideo.transports._shared import MAX_JSON_DEPTH, _within_depth
from soravideo.transports.base import MAX_REMOTE_ID_LENGTH, remote_id_problem


def careful_problem(value: str) -> str | None:
    """The remote-id rule without its shortcut (the character-by-character check)."""
    if not value:
        return "is empty"
    if len(value) > MAX_REMOTE_ID_LENGTH:
        return "is too long"
    if value in (".", ".."):
        return "is a dot segment"
    if "/" in value or "\\" in value:
        return "contains a path separator"
    for char in value:
        if char.isspace() or unicodedata.category(char)[0] == "C":
            return f"contains a space or control character (U+{ord(char):04X})"
    return None


@given(st.text(alphabet=st.characters(max_codepoint=0x7F), max_size=40))
def test_every_ascii_id_is_judged_as_the_careful_check_judges_it(value: str) -> None:
    assert (remote_id_problem(value) is None) == (careful_problem(value) is None)
    careful = careful_problem(value)
    if careful is not None and careful.startswith("contains a space"):
        assert remote_id_problem(value) == careful  # the same character named


@given(st.text(max_size=20))
def test_every_id_is_judged_as_the_careful_check_judges_it(value: str) -> None:
    assert (remote_id_problem(value) is None) == (careful_problem(value) is None)


@pytest.mark.parametrize("value", ["video 1", "video\t1", "video\x7f1", "a\x00b", " "])
def test_ascii_spaces_and_controls_are_still_refused(value: str) -> None:
    assert remote_id_problem(value) is not None


def careful_depth(value: Any, limit: int) -> bool:
    """The depth check without its shortcuts (every item looked at, by isinstance)."""
    pending: list[tuple[Any, int]] = [(value, 1)]
    while pending:
        item, depth = pending.pop()
        if isinstance(item, Mapping):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth > limit:
            return False
        pending.extend((child, depth + 1) for child in children)
    return True


json_like = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=5),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=3), inner, max_size=4)
    ),
    max_leaves=40,
)


@given(json_like, st.integers(min_value=1, max_value=6))
def test_the_depth_check_agrees_with_the_careful_walk(value: Any, limit: int) -> None:
    assert _within_depth(value, limit) == careful_depth(value, limit)


def test_the_depth_check_finds_a_deep_branch_beside_shallow_ones() -> None:
    deep: Any = "leaf"
    for _ in range(MAX_JSON_DEPTH):
        deep = [deep]
    answer = {"data": [{"id": f"video_{i}"} for i in range(50)] + [{"nested": deep}]}
    assert not _within_depth(answer, MAX_JSON_DEPTH)
    assert careful_depth(answer, MAX_JSON_DEPTH) is False
    assert _within_depth({"data": [{"id": "video_1"}]}, MAX_JSON_DEPTH)


SECRETS = ["sk-live-0123456789", 'quote"in-secret-12', "back\\slash-secret-1", "tab\tsecret-12345"]


@given(json_like, st.sampled_from(SECRETS))
def test_redact_hides_a_secret_wherever_the_careful_walk_would(value: Any, secret: str) -> None:
    holding = {"payload": value, "echo": f"key was {secret}", "list": [secret, 1]}
    assert redact(holding, [secret]) == _replace(holding, [secret], False)
    assert redact(value, [secret]) == _replace(value, [secret], False)
    assert secret not in json.dumps(redact(holding, [secret]), ensure_ascii=False)


@given(json_like, st.sampled_from(SECRETS), st.booleans(), st.booleans())
def test_a_scan_of_the_source_text_hides_a_secret_wherever_the_careful_walk_would(
    value: Any, secret: str, ascii_only: bool, echoed: bool
) -> None:
    # [W2-4] The value read from a JSON text, with the text given: its bytes are scanned
    # instead of the value written out again, and only where that proves no secret is in
    # it (no escape; UTF-8). An echoed secret, an escape or UTF-16 takes the careful path.
    read = {"payload": value, "echo": f"key was {secret}" if echoed else "no key here"}
    text = json.dumps(read, ensure_ascii=ascii_only)
    for source in (text.encode(), text.encode("utf-16"), text.encode("utf-8-sig")):
        assert json.loads(source) == read
        assert redact(read, [secret], source=source) == _replace(read, [secret], False)
        part = read["payload"]
        assert redact(part, [secret], source=source) == _replace(part, [secret], False)


def test_a_scan_of_the_source_text_keeps_the_same_object_when_it_proves_no_secret() -> None:
    page = {"data": [{"id": "video_1", "status": "queued", "progress": 3}]}
    source = json.dumps(page).encode()
    assert redact(page["data"], ["sk-live-0123456789"], source=source) is page["data"]
    echoed = {"data": [{"id": "video_1", "error": {"message": "bad key sk-live-0123456789"}}]}
    scrubbed = redact(echoed["data"], ["sk-live-0123456789"], source=json.dumps(echoed).encode())
    assert scrubbed == [{"id": "video_1", "error": {"message": f"bad key {REDACTED}"}}]


@pytest.mark.anyio
async def test_a_listed_video_that_echoes_the_key_is_scrubbed_before_it_is_read() -> None:
    base = "http://127.0.0.1:8765/v1"
    key = "sk-test-fast-paths"
    failed = {
        "id": "video_seen",
        "object": "video",
        "status": "failed",
        "error": {"code": "bad_request", "message": f"rejected with {key}"},
    }
    mine = {"id": "video_mine", "object": "video", "status": "queued"}
    with respx.mock(base_url=base, assert_all_called=True) as mock:
        mock.get("/videos").respond(200, json={"data": [mine, failed], "has_more": False})
        transport = SoraTransport(base_url=base, api_key=key)
        try:
            found = await transport.fetch_many_seen(["video_mine"], watched={"video_seen"})
        finally:
            await transport.aclose()
    seen = found["video_seen"]
    assert seen.error is not None and key not in seen.error.message
    assert key not in json.dumps(seen.raw)


def test_redact_returns_the_same_object_when_no_secret_is_there() -> None:
    payload = {"id": "video_1", "status": "queued", "progress": 3}
    assert redact(payload, ["sk-live-0123456789"]) is payload
    assert redact({"k": "a sk-live-0123456789 b"}, ["sk-live-0123456789"]) == {
        "k": f"a {REDACTED} b"
    }


@pytest.mark.anyio
async def test_a_refresh_reads_only_the_videos_it_looks_for_and_pages_past_the_others() -> None:
    base = "http://127.0.0.1:8765/v1"
    first = [{"id": f"video_other_{i}", "object": "video", "status": "completed"} for i in range(3)]
    second = [
        {"id": "video_mine", "object": "video", "status": "in_progress", "progress": 40},
        {"id": "..", "object": "video", "status": "queued"},
    ]
    with respx.mock(base_url=base, assert_all_called=True) as mock:
        route = mock.get("/videos").mock(
            side_effect=[
                httpx.Response(200, json={"data": first, "has_more": True, "last_id": None}),
                httpx.Response(200, json={"data": second, "has_more": False}),
            ]
        )
        transport = SoraTransport(base_url=base, api_key="sk-test-fast-paths")
        try:
            found = await transport.fetch_many(["video_mine"])
        finally:
            await transport.aclose()
    assert list(found) == ["video_mine"]
    assert found["video_mine"].progress == 40
    # The first page named no last_id: the next one starts after its last listed video.
    assert route.calls[1].request.url.params["after"] == "video_other_2"
