"""Batch manifests: JSONL or CSV, one video a row, with row numbers in every error.

A CSV row is a record as the ``csv`` module reads it (a quoted cell may hold newlines,
quotes and commas); a JSONL row is a line ending at ``\n``. Characters that other
line-splitting rules break on (``\x0c``, ``\x1c``, U+2028 …) are part of a cell or a
JSON string, never a row break.
"""

from __future__ import annotations

import csv
import io
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


def _read_text(path: Path) -> str:
    # newline="": no newline translation, so a \r inside a quoted CSV cell stays a \r.
    try:
        with path.open(encoding="utf-8-sig", newline="") as file:
            return file.read()
    except UnicodeDecodeError as exc:
        raise ValidationError(
            [
                FieldError(
                    field="path",
                    message=f"{path.name} is not UTF-8 text (byte {exc.start}); save it as UTF-8",
                )
            ]
        ) from None


def _jsonl_rows(path: Path, text: str) -> list[tuple[int, Mapping[str, Any]]]:
    rows: list[tuple[int, Mapping[str, Any]]] = []
    errors: list[FieldError] = []
    # Lines end at \n alone (a \r before it is JSON whitespace). Never str.splitlines():
    # it also splits on \x0b, \x0c, \x1c-\x1e, \x85, U+2028 and U+2029, which valid JSON
    # holds raw inside strings, and would make one row two.
    for number, line in enumerate(text.split("\n"), start=1):
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


def _csv_rows(text: str) -> list[tuple[int, Mapping[str, Any]]]:
    # The csv module splits records by its own rules: a quoted newline stays in its cell,
    # and \x0c, \x1c or U+2028 in a cell are just characters. Row numbers count records,
    # the header as row 1 and blank lines included, as a spreadsheet shows them.
    records = csv.reader(io.StringIO(text, newline=""))
    header = next(records, None)
    if header is None:
        return []
    rows: list[tuple[int, Mapping[str, Any]]] = []
    for number, record in enumerate(records, start=2):
        if not record:
            continue
        # A short record leaves its last fields out, as csv.DictReader would.
        row: dict[Any, Any] = dict(zip(header, record, strict=False))
        if len(record) > len(header):
            row[None] = record[len(header) :]  # reported as "more cells than the header"
        rows.append((number, row))
    return rows


def _rows(path: Path) -> list[tuple[int, Mapping[str, Any]]]:
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".ndjson"):
        return _jsonl_rows(path, _read_text(path))
    if suffix == ".csv":
        return _csv_rows(_read_text(path))
    raise ValidationError(
        [FieldError(field="path", message=f"unknown manifest type {suffix!r}; use .jsonl or .csv")]
    )


def read_manifest(
    path: str | os.PathLike[str], defaults: Mapping[str, Any], *, max_rows: int
) -> list[CreateVideoRequest]:
    """Read a manifest into requests, applying ``defaults`` to fields a row leaves out.

    Rows are CSV records (the header is row 1, as a spreadsheet counts them) or JSONL
    lines (split on ``\n`` only), so row ``N`` in an error is the file's record or line.

    Raises:
        ValidationError: every problem, named ``row N: field``; a file that is not UTF-8;
            or a file too large for ``max_rows`` with a hint to raise ``max_batch_size``.
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
