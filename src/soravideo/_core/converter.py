"""The one cattrs converter: every model to and from dicts and JSON.

Datetimes are UTC ISO-8601 strings, enums their values, bytes base64 (``{"base64": ...}``).
"""

from __future__ import annotations

import base64
import json
from datetime import datetime, timezone
from typing import Any, TypeVar

import cattrs

from .models import BatchStatus, JobPriority, JobStatus

__all__ = ["converter", "dumps", "loads", "structure", "unstructure"]

T = TypeVar("T")

converter: cattrs.Converter = cattrs.Converter()
_REFERENCE = str | bytes | None


def _dt_to_str(value: datetime) -> str:
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return value.astimezone(timezone.utc).isoformat()


def _str_to_dt(value: Any, _: Any) -> datetime:
    if isinstance(value, datetime):
        parsed = value
    else:
        parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    return parsed.astimezone(timezone.utc)


def _ref_unstructure(value: str | bytes | None) -> Any:
    if isinstance(value, bytes):
        return {"base64": base64.b64encode(value).decode("ascii")}
    return value


def _ref_structure(value: Any, _: Any) -> str | bytes | None:
    if isinstance(value, dict):
        return base64.b64decode(value["base64"])
    if value is None or isinstance(value, (str, bytes)):
        return value
    raise TypeError(f"input_reference must be a path, bytes or URL, not {type(value).__name__}")


converter.register_unstructure_hook(datetime, _dt_to_str)
# str-based enums would otherwise pass through as members (str is matched first).
for _enum in (JobStatus, JobPriority, BatchStatus):
    converter.register_unstructure_hook(_enum, lambda v: v.value)
converter.register_structure_hook(datetime, _str_to_dt)
converter.register_unstructure_hook_func(lambda t: t == _REFERENCE, _ref_unstructure)
converter.register_structure_hook_func(lambda t: t == _REFERENCE, _ref_structure)


def unstructure(obj: Any) -> Any:
    """Turn a model into plain dicts, lists, strings and numbers."""
    return converter.unstructure(obj)


def structure(data: Any, cls: type[T]) -> T:
    """Build a model from plain data (the inverse of ``unstructure``)."""
    return converter.structure(data, cls)


# One encoder for every call (json.dumps builds a new one each time its options are not the
# defaults); it keeps no state between calls, so threads share it.
_ENCODER = json.JSONEncoder(separators=(",", ":"), sort_keys=True)


def dumps(obj: Any) -> str:
    """Serialise a model to compact JSON."""
    return _ENCODER.encode(unstructure(obj))


def loads(text: str | bytes, cls: type[T]) -> T:
    """Parse JSON made by ``dumps`` back into a model."""
    return structure(json.loads(text), cls)
