"""The commands: one coroutine each, taking the command's ``Context`` (``cli/context.py``)
and returning its exit code."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

from ..context import Context
from .batches import cmd_batch, cmd_resume
from .files import cmd_download
from .jobs import cmd_cancel, cmd_create, cmd_list, cmd_status
from .service import cmd_health, cmd_metrics, cmd_serve, cmd_worker

__all__ = ["COMMANDS", "cmd_demo"]


async def cmd_demo(ctx: Context) -> int:
    """``soravideo demo``: the offline demo (the only importer of ``soravideo.cli.demo``)."""
    from ..demo import run_demo

    return await run_demo(Path(ctx.args.output), write=ctx.line if not ctx.json else ctx.note)


COMMANDS: dict[str, Callable[[Context], Awaitable[int]]] = {
    "create": cmd_create,
    "status": cmd_status,
    "list": cmd_list,
    "cancel": cmd_cancel,
    "download": cmd_download,
    "batch": cmd_batch,
    "resume": cmd_resume,
    "health": cmd_health,
    "metrics": cmd_metrics,
    "demo": cmd_demo,
    "worker": cmd_worker,
    "serve": cmd_serve,
}
