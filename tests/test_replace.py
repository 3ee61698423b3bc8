"""``replace``: ``attrs.evolve`` for the hot paths, equal to it on every model it copies."""

from __future__ import annotations

from typing import Any

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from soravideo._core.models import CreateVideoRequest, Job, VideoResult
from soravideo._core.replace import replace
from soravideo.testing import strategies

_JOB_FIELDS = [f.name for f in attrs.fields(Job)]


@settings(max_examples=60, deadline=None)
@given(
    job=strategies.jobs(),
    other=strategies.jobs(),
    names=st.sets(st.sampled_from(_JOB_FIELDS), max_size=5),
)
def test_replace_gives_what_evolve_gives(job: Job, other: Job, names: set[str]) -> None:
    changes: dict[str, Any] = {name: getattr(other, name) for name in names}
    replaced = replace(job, **changes)
    assert replaced == attrs.evolve(job, **changes)
    assert type(replaced) is Job
    assert repr(replaced) == repr(attrs.evolve(job, **changes))
    # The original is untouched.
    assert job == attrs.evolve(job)


def test_a_changed_field_goes_through_its_converter() -> None:
    request = CreateVideoRequest(prompt="a fox")
    labels = {"team": "video"}
    changed = replace(request, metadata=labels, priority="high")
    assert changed.metadata == labels and changed.metadata is not labels  # copied
    assert changed.priority.value == "high"  # converted from text, as __init__ does
    assert changed == attrs.evolve(request, metadata=labels, priority="high")


def test_unchanged_fields_are_shared_not_copied() -> None:
    request = CreateVideoRequest(prompt="a fox", metadata={"a": "b"})
    assert replace(request, prompt="a wolf").metadata is request.metadata


def test_an_unknown_field_is_refused_by_name() -> None:
    request = CreateVideoRequest(prompt="a fox")
    with pytest.raises(TypeError, match=r"CreateVideoRequest has no field\(s\) \['nope'\]"):
        replace(request, nope=1)


def test_a_class_it_cannot_copy_is_refused() -> None:
    @attrs.frozen
    class Checked:
        value: int = attrs.field(validator=attrs.validators.instance_of(int))

    with pytest.raises(TypeError, match="no validators"):
        replace(Checked(1), value=2)

    @attrs.define(slots=False)
    class Dicted:
        value: int

    with pytest.raises(TypeError, match="slotted"):
        replace(Dicted(1), value=2)


def test_a_result_is_copied_too() -> None:
    result = VideoResult(remote_id="video_1", url="https://example.test/v.mp4")
    assert replace(result, path="/tmp/v.mp4") == attrs.evolve(result, path="/tmp/v.mp4")
