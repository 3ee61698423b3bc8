"""Streamed, atomic downloads: a temporary file beside the target, checked, then renamed."""

from __future__ import annotations

import hashlib
import os
import uuid
from pathlib import Path

import anyio
import attrs

from ._clock import off_loop_work
from ._errors import ProviderError
from .transports.base import Transport

__all__ = ["Downloaded", "download_content"]


@attrs.frozen(kw_only=True)
class Downloaded:
    """What a download wrote: the final path, its size, its SHA-256 and content type."""

    path: Path
    bytes: int
    sha256: str
    content_type: str | None


async def download_content(
    transport: Transport, remote_id: str, dest: str | os.PathLike[str], *, variant: str = "video"
) -> Downloaded:
    """Stream a job's content to ``dest`` atomically and check its length.

    Raises:
        ProviderError: the provider refused, or sent fewer or more bytes than it announced.
    """
    target = Path(dest)
    # File work runs in threads: counted as off-loop work, so simulated time does not
    # leap ahead while it runs (the stream itself is not: it may wait on the clock).
    with off_loop_work:
        await anyio.Path(target.parent).mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.{uuid.uuid4().hex[:8]}.part")
    digest = hashlib.sha256()
    size = 0
    try:
        async with transport.open_content(remote_id, variant) as stream:
            with off_loop_work:
                out = await anyio.open_file(partial, "wb")
            try:
                async for chunk in stream.aiter_bytes():
                    digest.update(chunk)
                    size += len(chunk)
                    with off_loop_work:
                        await out.write(chunk)
            finally:
                with off_loop_work, anyio.CancelScope(shield=True):
                    await out.aclose()
            expected = stream.content_length
            content_type = stream.content_type
        if expected is not None and expected != size:
            raise ProviderError(
                f"download of {remote_id} ({variant}) was cut short: {size} of {expected} bytes",
                provider=transport.name,
                code="incomplete_download",
            )
        with off_loop_work:
            await anyio.Path(partial).replace(target)
    finally:
        with off_loop_work, anyio.CancelScope(shield=True):
            await anyio.Path(partial).unlink(missing_ok=True)
    return Downloaded(path=target, bytes=size, sha256=digest.hexdigest(), content_type=content_type)
