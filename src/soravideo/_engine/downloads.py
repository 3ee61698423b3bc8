"""Streamed, verified, atomic downloads: a temporary file beside the target, checked, then renamed.

Where a download goes (``resolve_destination``): a directory, or a path ending in a
separator, gets ``<job id>.<ext>`` inside it (made if missing); any other path is the file
itself (its missing parents are made). What happens to a file already there is the
caller's choice (``existing``):

- ``"refuse"`` (``download_video``'s default): a [`ValidationError`][soravideo.ValidationError]
  naming the path, before anything is fetched;
- ``"replace"`` (``overwrite=True``, the CLI's ``--force``): replaced, atomically, only
  once the new content passed its checks;
- ``"same"`` (automatic downloads: ``download_dir``, ``resume(download_dir=...)``): kept
  when it holds exactly the bytes just downloaded (the same job saved twice, e.g. by a
  worker that took over from one that crashed), else left alone with a
  [`ValidationError`][soravideo.ValidationError]: another file is never clobbered.

The content is checked as it streams (``soravideo._engine.content_check``) and a failure raises
[`DownloadError`][soravideo.DownloadError]. Whatever goes wrong, cancellation included,
the temporary file is removed: no file appears at the target unless it is whole and checked.
"""

from __future__ import annotations

import hashlib
import logging
import os
import uuid
from pathlib import Path
from typing import Literal

import anyio
import anyio.to_thread
import attrs

from .._core.clock import off_loop_work
from .._core.errors import DownloadError, FieldError, ValidationError
from .._core.settings import DEFAULT_MAX_DOWNLOAD_BYTES
from ..transports.base import Transport
from .content_check import ContentCheck, Rejected

logger = logging.getLogger("soravideo")

__all__ = [
    "DEFAULT_MAX_DOWNLOAD_BYTES",
    "Downloaded",
    "Existing",
    "download_content",
    "file_name",
    "publish",
    "refuse_existing",
    "resolve_destination",
]

Existing = Literal["refuse", "replace", "same"]

_EXTENSIONS = {"video": ".mp4", "thumbnail": ".webp", "spritesheet": ".jpg"}
_SEPARATORS = tuple(s for s in (os.sep, os.altsep) if s)
_READ_SIZE = 1024 * 1024


@attrs.frozen(kw_only=True)
class Downloaded:
    """What a download wrote: the final path, its size, its SHA-256 and content type."""

    path: Path
    bytes: int
    sha256: str
    content_type: str | None


# The file name suffixes each format the content check identifies goes by.
_SUFFIXES = {
    "mp4": (".mp4", ".m4v", ".mov"),
    "webp": (".webp",),
    "png": (".png",),
    "jpeg": (".jpg", ".jpeg", ".jpe"),
}


def _misnamed(target: Path, found: str | None) -> str | None:
    """Return the format's name when ``target``'s suffix names another known format.

    ``thumb.jpg`` holding WebP data is misnamed; ``thumb`` or ``thumb.bin`` is not.
    """
    suffix = target.suffix.lower()
    if found is None or suffix in _SUFFIXES[found]:
        return None
    if any(suffix in suffixes for suffixes in _SUFFIXES.values()):
        return found.upper()
    return None


def file_name(job_id: str, variant: str = "video") -> str:
    """Return the name a job's content gets in a directory: ``<job id>.<ext>``."""
    return f"{job_id}{_EXTENSIONS.get(variant, '.bin')}"


def resolve_destination(dest: str | os.PathLike[str], name: str) -> Path:
    """Return the file a download to ``dest`` writes (blocking: call it off the event loop).

    Args:
        dest: A file path; or a directory (existing, or a path ending in a separator,
            which need not exist) to put ``name`` in.
        name: The file name inside a directory (see ``file_name``).

    Returns:
        The target file's path.
    """
    path = Path(dest)
    if os.fspath(dest).endswith(_SEPARATORS) or path.is_dir():
        return path / name
    return path


def refuse_existing(target: Path, *, how: str = "pass overwrite=True") -> None:
    """Raise unless ``target`` is free (blocking: call it off the event loop).

    Args:
        target: The file a download would write.
        how: How the caller replaces it instead (the CLI says ``use --force``).

    Raises:
        ValidationError: ``target`` exists (field ``dest``).
    """
    if os.path.lexists(target):
        raise _occupied(target, f"{target} already exists; {how} to replace it")


def _occupied(target: Path, message: str) -> ValidationError:
    return ValidationError([FieldError(field="dest", message=message)], message="not downloaded")


def _sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(_READ_SIZE):
            digest.update(block)
    return digest.hexdigest()


def publish(partial: Path, target: Path, existing: Existing, sha256: str = "") -> None:
    """Put the checked ``partial`` at ``target`` as ``existing`` says (blocking).

    Without ``"replace"``, a hard link makes the file appear only if the name is free, so
    a file created meanwhile is not clobbered either; where the file system has no hard
    links, the name is checked, then the file renamed. The caller removes ``partial``.

    Args:
        partial: The complete, checked temporary file, in the target's directory.
        target: Where it goes.
        existing: What to do with a file already at ``target`` (see the module's doc).
        sha256: The content's SHA-256 (hex), for ``"same"``.

    Raises:
        ValidationError: A file is at ``target`` that ``existing`` does not allow replacing.
    """
    if existing == "replace":
        os.replace(partial, target)
        return
    try:
        os.link(partial, target)
        return
    except FileExistsError:
        pass
    except OSError:
        if not os.path.lexists(target):
            os.replace(partial, target)
            return
    if existing == "refuse":
        raise _occupied(target, f"{target} already exists; pass overwrite=True to replace it")
    if not (target.is_file() and _sha256_of(target) == sha256):
        raise _occupied(target, f"{target} already exists and holds another file; not replaced")


async def download_content(
    transport: Transport,
    remote_id: str,
    dest: str | os.PathLike[str],
    *,
    variant: str = "video",
    name: str | None = None,
    max_bytes: int = DEFAULT_MAX_DOWNLOAD_BYTES,
    existing: Existing = "refuse",
) -> Downloaded:
    """Stream a job's content to ``dest``: checked as it arrives, kept only when whole.

    Args:
        transport: The provider.
        remote_id: The provider's id of the finished job.
        dest: The file, or a directory for ``name`` (see ``resolve_destination``).
        variant: What to download (``"video"``, ``"thumbnail"`` …).
        name: The file name inside a directory (default: ``<remote id>.<ext>``).
        max_bytes: The most bytes the content may have (``Settings.max_download_bytes``).
        existing: What to do with a file already at the target (see the module's doc).

    Returns:
        Where the content is, its size, SHA-256 and content type.

    Raises:
        DownloadError: The content failed a check (nothing kept).
        ValidationError: A file is at the target and ``existing`` does not allow replacing it.
        ProviderError: The provider refused, or the connection broke (nothing kept).
    """
    with off_loop_work:
        target = await anyio.to_thread.run_sync(
            resolve_destination, dest, name or file_name(remote_id, variant)
        )
        if existing == "refuse":
            await anyio.to_thread.run_sync(refuse_existing, target)
        # File work runs in threads: counted as off-loop work, so simulated time does not
        # leap ahead while it runs (the stream itself is not: it may wait on the clock).
        await anyio.Path(target.parent).mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.{uuid.uuid4().hex[:8]}.part")
    digest = hashlib.sha256()
    try:
        async with transport.open_content(remote_id, variant) as stream:
            check = ContentCheck(
                variant=variant,
                content_type=stream.content_type,
                content_length=stream.content_length,
                max_bytes=max_bytes,
            )
            try:
                check.start()
                with off_loop_work:
                    out = await anyio.open_file(partial, "xb")
                try:
                    async for chunk in stream.aiter_bytes():
                        check.feed(chunk)
                        digest.update(chunk)
                        with off_loop_work:
                            await out.write(chunk)
                finally:
                    with off_loop_work, anyio.CancelScope(shield=True):
                        await out.aclose()
                check.finish()
            except Rejected as exc:
                raise DownloadError(
                    f"{transport.name}: {variant} of {remote_id} not saved to {target}: "
                    f"{exc.reason}",
                    path=str(target),
                    provider=transport.name,
                    code=exc.code,
                ) from None
            content_type = stream.content_type
        misnamed = _misnamed(target, check.format)
        if misnamed is not None:
            logger.warning(
                "%s: the %s of %s is %s data, saved as asked under %s",
                transport.name,
                variant,
                remote_id,
                misnamed,
                target.name,
            )
        with off_loop_work:
            await anyio.to_thread.run_sync(publish, partial, target, existing, digest.hexdigest())
    finally:
        with off_loop_work, anyio.CancelScope(shield=True):
            await anyio.Path(partial).unlink(missing_ok=True)
    return Downloaded(
        path=target, bytes=check.size, sha256=digest.hexdigest(), content_type=content_type
    )
