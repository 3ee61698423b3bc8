"""The one converter is lossless: every model survives a trip to plain data and to JSON."""

from __future__ import annotations

import inspect
import json
from typing import Any

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from soravideo._core import models as _models
from soravideo._core.converter import dumps, loads, structure, unstructure
from soravideo._core.models import BatchStatus, Job, JobPriority, JobStatus, Page
from soravideo.testing import strategies as sst

MODEL_CLASSES = sorted(
    (obj for _, obj in inspect.getmembers(_models, inspect.isclass) if attrs.has(obj)),
    key=lambda cls: cls.__name__,
)


def test_every_model_class_has_a_strategy() -> None:
    assert set(MODEL_CLASSES) == set(sst.MODELS)


@pytest.mark.parametrize("cls", MODEL_CLASSES, ids=lambda cls: cls.__name__)
@settings(max_examples=20, deadline=None)
@given(data=st.data())
def test_structure_inverts_unstructure(cls: type[Any], data: st.DataObject) -> None:
    target: Any = Page[Job] if cls is Page else cls
    value = data.draw(sst.MODELS[cls])
    plain = unstructure(value)
    # Plain data means JSON-ready: no datetimes, enums or bytes left inside.
    assert json.loads(json.dumps(plain)) == plain
    assert structure(plain, target) == value
    assert loads(dumps(value), target) == value


@pytest.mark.parametrize("enum", [JobStatus, JobPriority, BatchStatus])
def test_enums_travel_as_their_values(enum: type[Any]) -> None:
    for member in enum:
        assert unstructure(member) == member.value
        assert structure(member.value, enum) is member


@given(sst.jobs(complete=True))
@settings(max_examples=10, deadline=None)
def test_datetimes_come_back_in_utc_at_the_same_instant(job: Job) -> None:
    back = loads(dumps(job), Job)
    assert back.created_at == job.created_at
    assert back.created_at.utcoffset() is not None
    assert back.created_at.utcoffset().total_seconds() == 0  # type: ignore[union-attr]
