"""Batch manifests: JSONL or CSV, one video a row, with row numbers in every error."""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs

from ._errors import FieldError, ValidationError
from ._models import CreateVideoRequest
from ._validation import check_request, raise_if

__all__ = ["read_manifest"]

_FIELDS = {f.name for f in attrs.fields(CreateVideoRequest)}
_INT_FIELDS = {"duration"}
_MAP_FIELDS = {"metadata", "provider_options"}


def _coerce(row: Mapping[str, Any], where: str, errors: list[FieldError]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    metadata: dict[str, str] = {}
    for key, raw in row.items():
        if key is None:
            errors.append(FieldError(field=where, message="has more cells than the header"))
            continue
        name = key.strip()
        if raw is None or raw == "":
            continue
        if name.startswith("metadata."):
            metadata[name.removeprefix("metadata.")] = str(raw)
            continue
        if name not in _FIELDS:
            errors.append(FieldError(field=f"{where}: {name}", message="unknown field"))
            continue
        if name in _INT_FIELDS and isinstance(raw, str):
            try:
                raw = int(raw)
            except ValueError:
                errors.append(
                    FieldError(field=f"{where}: {name}", message=f"not a whole number: {raw!r}")
                )
                continue
        if name in _MAP_FIELDS and isinstance(raw, str):
            try:
                raw = json.loads(raw)
            except json.JSONDecodeError:
                errors.append(FieldError(field=f"{where}: {name}", message="must be a JSON object"))
                continue
        values[name] = raw
    if metadata:
        values["metadata"] = {**values.get("metadata", {}), **metadata}
    return values


def _rows(path: Path) -> list[tuple[int, Mapping[str, Any]]]:
    suffix = path.suffix.lower()
    text = path.read_text(encoding="utf-8-sig")
    if suffix in (".jsonl", ".ndjson"):
        rows: list[tuple[int, Mapping[str, Any]]] = []
        errors: list[FieldError] = []
        for number, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                data = json.loads(line)
            except json.JSONDecodeError as exc:
                errors.append(FieldError(field=f"row {number}", message=f"invalid JSON: {exc.msg}"))
                continue
            if not isinstance(data, dict):
                errors.append(FieldError(field=f"row {number}", message="must be a JSON object"))
                continue
            rows.append((number, data))
        raise_if(errors, message=f"invalid manifest {path.name}")
        return rows
    if suffix == ".csv":
        reader = csv.DictReader(text.splitlines())
        # Row numbers count the header as row 1, as a spreadsheet shows them.
        return [(number, row) for number, row in enumerate(reader, start=2)]
    raise ValidationError(
        [FieldError(field="path", message=f"unknown manifest type {suffix!r}; use .jsonl or .csv")]
    )


def read_manifest(
    path: str | os.PathLike[str], defaults: Mapping[str, Any], *, max_rows: int
) -> list[CreateVideoRequest]:
    """Read a manifest into requests, applying ``defaults`` to fields a row leaves out.

    Raises:
        ValidationError: every problem, named ``row N: field``; or a file too large for
            ``max_rows`` with a hint to raise ``max_batch_size``.
    """
    file = Path(path)
    if not file.is_file():
        raise ValidationError([FieldError(field="path", message=f"no such file: {file}")])
    rows = _rows(file)
    if len(rows) > max_rows:
        raise ValidationError(
            [
                FieldError(
                    field="path",
                    message=(
                        f"{file.name} has {len(rows)} videos, more than max_batch_size={max_rows}; "
                        f"raise it with SoraVideo(max_batch_size={len(rows)}) or split the file"
                    ),
                )
            ]
        )
    errors: list[FieldError] = []
    unknown_defaults = sorted(set(defaults) - _FIELDS)
    for name in unknown_defaults:
        errors.append(FieldError(field=name, message="not a request field"))
    requests: list[CreateVideoRequest] = []
    for number, row in rows:
        where = f"row {number}"
        values = {**defaults, **_coerce(row, where, errors)}
        if "prompt" not in values:
            errors.append(FieldError(field=f"{where}: prompt", message="is required"))
            continue
        try:
            request = CreateVideoRequest(**values)
        except (TypeError, ValueError) as exc:
            errors.append(FieldError(field=where, message=str(exc)))
            continue
        for problem in check_request(request):
            errors.append(FieldError(field=f"{where}: {problem.field}", message=problem.message))
        requests.append(request)
    raise_if(errors, message=f"invalid manifest {file.name}")
    return requests
