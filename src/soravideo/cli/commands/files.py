"""The files commands write: ``download``, and the ``--out`` / ``--out-dir`` paths and checks
that ``create`` and ``batch`` share with it."""

from __future__ import annotations

import functools
import os
import shutil
import uuid
from pathlib import Path

import anyio
import anyio.to_thread

from ..._core.errors import JobStateError, ProviderError, ValidationError
from ..._core.models import Job, JobStatus
from ..._engine.downloads import file_name, publish, refuse_existing, resolve_destination
from ..context import Context
from ..errors import EXIT_OK, UsageError
from ..formatting import file_size, shown
from ..plumbing import build_client

__all__ = [
    "absolute",
    "cmd_download",
    "copy_saved",
    "destination",
    "refuse_existing_file",
    "refuse_file_at",
]

_SEPARATORS = tuple(sep for sep in (os.sep, os.altsep) if sep)


def copy_saved(job: Job, variant: str, dest: str, *, force: bool) -> Path | None:
    """Copy the file a completed job's video was already downloaded to (atomically).

    ``dest`` follows ``download_video``'s rules: a directory (or a path ending in a
    separator, made if missing) gets ``JOB_ID.<ext>``; an existing file is replaced only
    with ``force``.

    Returns:
        The copy's path; ``None`` when there is no intact local file to copy.

    Raises:
        UsageError: a file is at the target and ``force`` is false.
    """
    result = job.result
    if variant != "video" or result is None or not result.path:
        return None
    saved = Path(result.path)
    if not saved.is_file() or (result.bytes is not None and saved.stat().st_size != result.bytes):
        return None
    target = resolve_destination(dest, f"{job.id}{saved.suffix}")
    if target.resolve() == saved.resolve():
        return target
    if not force:
        refuse_existing_file(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.{uuid.uuid4().hex[:8]}.part")
    try:
        shutil.copyfile(saved, partial)
        publish(partial, target, "replace" if force else "refuse")
    except ValidationError as exc:  # a file appeared there meanwhile
        raise UsageError(f"{target} already exists; use --force to replace it") from exc
    finally:
        partial.unlink(missing_ok=True)
    return target


def refuse_existing_file(target: Path) -> None:
    """Raise a ``UsageError`` naming ``target`` if a file is there (``--force`` replaces it)."""
    try:
        refuse_existing(target, how="use --force")
    except ValidationError as exc:
        raise UsageError(exc.errors[0].message) from None


def absolute(path: str) -> Path:
    """Return ``path`` made absolute (``~`` expanded).

    Absolute, so the paths the ledger records hold from any working directory.
    """
    return Path(path).expanduser().absolute()


def destination(path: str) -> str:
    """Return a download destination made absolute, keeping a trailing separator: it says
    the path is a directory (made if missing), not a file."""
    full = str(absolute(path))
    return full + os.sep if path.endswith(_SEPARATORS) else full


def refuse_file_at(out: str) -> None:
    """Raise a ``UsageError`` when ``--out`` names a file that already exists.

    A directory destination cannot be in the way: the file inside is named by a job id
    not made yet.
    """
    dest = destination(out)
    if not (dest.endswith(_SEPARATORS) or Path(dest).is_dir()):
        refuse_existing_file(Path(dest))


async def cmd_download(ctx: Context) -> int:
    """``soravideo download``: copy the saved file, or fetch the video from the provider."""
    args = ctx.args
    client = build_client(ctx, must_exist=True)
    try:
        job = await client.videos.get_job(args.job_id)
        if job.status is not JobStatus.COMPLETED:
            raise JobStateError(job.id, job.status.value, "only a completed job can be downloaded")
        dest = destination(args.out or ".")
        # A video saved on completion (download_dir) is copied: no provider round trip,
        # and it works after the provider's copy expired (or the simulator is gone).
        target = await anyio.to_thread.run_sync(
            functools.partial(copy_saved, job, args.variant, dest, force=args.force)
        )
        if target is None:
            if not args.force:
                name = file_name(job.id, args.variant)
                await anyio.to_thread.run_sync(
                    refuse_existing_file, resolve_destination(dest, name)
                )
            try:
                target = await client.videos.download_video(
                    job.id, dest, args.variant, overwrite=args.force
                )
            except ProviderError as exc:
                if exc.status_code != 404:
                    raise
                raise UsageError(_gone(ctx, job)) from exc
    finally:
        await client.aclose()
    size = (await anyio.Path(target).stat()).st_size
    ctx.document({"job_id": job.id, "variant": args.variant, "path": str(target), "bytes": size})
    ctx.line(f"{shown(target)} ({file_size(size)})")
    return EXIT_OK


def _gone(ctx: Context, job: Job) -> str:
    if ctx.simulated:
        return (
            f"job {job.id}: the simulated provider keeps videos only while the command that "
            "made them runs; download in that command (create --wait --out, batch --out-dir) "
            "or set SORAVIDEO_DOWNLOAD_DIR"
        )
    expires = job.result.expires_at if job.result is not None else None
    when = f" (it expired at {expires:%Y-%m-%d %H:%M} UTC)" if expires else ""
    return f"job {job.id}: the provider no longer has this video{when}"
