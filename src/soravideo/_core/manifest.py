"""Batch manifests: JSONL or CSV, one video a row, with row numbers in every error.

A CSV row is a record as the ``csv`` module reads it (a quoted cell may hold newlines,
quotes and commas); a JSONL row is a line ending at ``\n``. Characters that other
line-splitting rules break on (``\x0c``, ``\x1c``, U+2028 …) are part of a cell or a
JSON string, never a row break.

A manifest may come from someone else, so the files its rows name are confined: an
``input_reference`` path resolves inside the manifest's folder (or ``base_dir``), must stay
inside it once every symbolic link is followed, and must be a JPEG, PNG or WebP image.
The request then holds the file's resolved absolute path.
"""

from __future__ import annotations

import csv
import io
import json
import os
import stat
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs

from .errors import FieldError, ValidationError
from .models import CreateVideoRequest
from .validation import IMAGE_HEAD_BYTES, check_request, image_type, raise_if

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
            except (ValueError, RecursionError):
                errors.append(FieldError(field=f"{where}: {name}", message="must be a JSON object"))
                continue
        values[name] = raw
    if metadata:
        given = values.get("metadata", {})
        if isinstance(given, Mapping):
            values["metadata"] = {**given, **metadata}
        else:
            errors.append(
                FieldError(field=f"{where}: metadata", message="must be an object of text values")
            )
    return values


def _is_url(reference: str) -> bool:
    return "://" in reference or reference.startswith("data:")


def _inside(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


def _confined(reference: Any, base: str) -> tuple[Any, str | None]:
    """Resolve a manifest's file reference inside ``base`` (a real, absolute folder).

    Returns:
        ``(value, problem)``: the file's real absolute path and ``None``, or the value as
        given and why it is refused. What is not a local path (not text, blank, a URL,
        text that cannot be encoded) is returned as given, for the request's own checks.
    """
    if not isinstance(reference, str) or not reference.strip() or _is_url(reference):
        return reference, None
    try:
        # Never expanduser(): "~" is a folder name here, not a way out of the base.
        real = os.path.realpath(os.path.join(base, reference))
    except (OSError, ValueError):  # NUL or a lone surrogate: the request's checks name it
        return reference, None
    if not _inside(real, base):
        return reference, (
            "leads outside the manifest's folder (an absolute path, '..' or a symbolic link "
            "to elsewhere); files must be inside it, or pass base_dir"
        )
    try:
        info = os.stat(real)
        if not stat.S_ISREG(info.st_mode):
            return reference, "is not a regular file"
        with open(real, "rb") as file:
            head = file.read(IMAGE_HEAD_BYTES)
    except FileNotFoundError:
        return reference, "file not found"
    except OSError as exc:
        return reference, f"cannot read the file ({exc.strerror or type(exc).__name__})"
    if image_type(head) is None:
        return reference, "is not a JPEG, PNG or WebP image"
    return real, None


def _read_text(path: Path) -> str:
    # newline="": no newline translation, so a \r inside a quoted CSV cell stays a \r.
    try:
        with path.open(encoding="utf-8-sig", newline="") as file:
            return file.read()
    except OSError as exc:
        raise ValidationError(
            [
                FieldError(
                    field="path",
                    message=f"cannot read {path.name} ({exc.strerror or type(exc).__name__})",
                )
            ]
        ) from None
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
        except RecursionError:
            errors.append(FieldError(field=f"row {number}", message="JSON nested too deeply"))
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
    rows: list[tuple[int, Mapping[str, Any]]] = []
    number = 0  # the last record read: the header is row 1
    try:
        header = next(records, None)
        if header is None:
            return []
        number = 1
        for record in records:
            number += 1
            if not record:
                continue
            # A short record leaves its last fields out, as csv.DictReader would.
            row: dict[Any, Any] = dict(zip(header, record, strict=False))
            if len(record) > len(header):
                row[None] = record[len(header) :]  # reported as "more cells than the header"
            rows.append((number, row))
    except csv.Error as exc:  # e.g. a cell over the csv module's field size limit
        raise ValidationError(
            [FieldError(field=f"row {number + 1}", message=f"unreadable CSV: {exc}")],
            message="invalid manifest",
        ) from None
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


def _base_folder(manifest: Path, base_dir: Any) -> str:
    """Return the real absolute folder a manifest's files must be in.

    Raises:
        ValidationError: ``base_dir`` is not a path to an existing folder.
    """
    if base_dir is None:
        return os.path.realpath(manifest.parent)
    if not isinstance(base_dir, (str, os.PathLike)) or not isinstance(os.fspath(base_dir), str):
        raise ValidationError([FieldError(field="base_dir", message="must be a folder path")])
    if not os.fspath(base_dir):
        raise ValidationError([FieldError(field="base_dir", message="must be a folder path")])
    try:
        folder = os.path.realpath(base_dir)
        found = os.path.isdir(folder)
    except (OSError, ValueError, TypeError):
        found = False
    if not found:
        raise ValidationError([FieldError(field="base_dir", message="no such folder")])
    return folder


def _manifest_path(path: Any) -> Path:
    if (
        not isinstance(path, (str, os.PathLike))
        or not isinstance(os.fspath(path), str)
        or not os.fspath(path)
    ):
        raise ValidationError([FieldError(field="path", message="must be a file path")])
    file = Path(path)
    try:
        found = file.is_file()
    except (OSError, ValueError):
        found = False
    if not found:
        raise ValidationError([FieldError(field="path", message=f"no such file: {file}")])
    return file


def read_manifest(
    path: str | os.PathLike[str],
    defaults: Mapping[str, Any],
    *,
    max_rows: int,
    base_dir: str | os.PathLike[str] | None = None,
) -> list[CreateVideoRequest]:
    """Read a manifest into requests, applying ``defaults`` to fields a row leaves out.

    Rows are CSV records (the header is row 1, as a spreadsheet counts them) or JSONL
    lines (split on ``\n`` only), so row ``N`` in an error is the file's record or line.

    A row's ``input_reference`` path is resolved inside ``base_dir`` (default: the
    manifest's folder) and replaced by the file's real absolute path; one leading out of
    that folder, missing, or not a JPEG, PNG or WebP image is refused. ``defaults`` are the
    caller's own and are not confined.

    Raises:
        ValidationError: every problem, named ``row N: field``; a file that is not UTF-8;
            or a file too large for ``max_rows`` with a hint to raise ``max_batch_size``.
    """
    file = _manifest_path(path)
    base = _base_folder(file, base_dir)
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
        given = _coerce(row, where, errors)
        if "input_reference" in given:
            given["input_reference"], refused = _confined(given["input_reference"], base)
            if refused is not None:
                errors.append(FieldError(field=f"{where}: input_reference", message=refused))
        values = {**defaults, **given}
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
