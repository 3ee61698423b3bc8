"""What the independent provider servers of these tests share: HTTP plumbing and the
exactly-once check at the end of each scenario.

Each server (``test_independent_*.py``) is written from one provider's published source
alone and answers ``handle(method, path, params, headers, body)`` with ``(status, headers,
body)``; a status of 0 means the answer never comes. This module carries those calls, in
process through ``httpx.MockTransport`` (simulated time) or on a real loopback port, and
checks a scenario's end against what the server made; it knows no provider.
"""

from __future__ import annotations

import contextlib
import http.server
import threading
from collections.abc import Callable, Container, Iterator, Mapping, Sequence
from typing import Any

import httpx

import soravideo as sv

Answer = tuple[int, Mapping[str, str], bytes]
Handle = Callable[[str, str, dict[str, str], dict[str, str], bytes], Answer]


def mock_transport(handle: Handle) -> httpx.MockTransport:
    """``handle`` as an in-process httpx transport."""

    def handler(request: httpx.Request) -> httpx.Response:
        status, headers, body = handle(
            request.method,
            request.url.path,
            dict(request.url.params),
            dict(request.headers),
            request.read(),
        )
        if status == 0:  # the answer never comes
            raise httpx.ReadTimeout("no answer", request=request)
        return httpx.Response(status, headers=headers, content=body)

    return httpx.MockTransport(handler)


@contextlib.contextmanager
def serve(handle: Handle, prefix: str = "") -> Iterator[str]:
    """Serve ``handle`` on a real loopback port (127.0.0.1); yield the base URL (``prefix``
    appended)."""

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _any(self) -> None:
            url = httpx.URL(self.path)
            length = int(self.headers.get("content-length") or 0)
            raw = self.rfile.read(length) if length else b""
            status, headers, body = handle(
                self.command, url.path, dict(url.params), dict(self.headers.items()), raw
            )
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST = do_PUT = do_DELETE = _any

        def log_message(self, format: str, *args: Any) -> None:
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}{prefix}"
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()


def check_exactly_once(
    created: Sequence[str],
    known: Container[str],
    jobs: Sequence[sv.Job],
    *,
    creates: int | None = None,
    key: Callable[[str], str] = str,
) -> None:
    """A scenario's end: every job finished; every job made at the server (``created``,
    by its server key) owned by exactly one job, or standing for one job failed
    ``ambiguous_submission`` (its create may or may not have made it, and it is never sent
    again); no job holding an id the server never made (``known``); ``creates`` made.

    Args:
        created: The ids of what the server made, in order.
        known: Every id the server knows.
        jobs: The ledger's jobs.
        creates: How many the server should have made (not checked when ``None``).
        key: A job's remote id as the server names it.
    """
    problems: list[str] = []
    unfinished = [j.id for j in jobs if not j.is_terminal]
    if unfinished:
        problems.append(f"jobs left unfinished: {unfinished}")
    owners: dict[str, list[str]] = {}
    for job in jobs:
        if job.remote_id is not None:
            made = key(job.remote_id)
            owners.setdefault(made, []).append(job.id)
            if made not in known:
                problems.append(f"job {job.id} holds {made}, which the server never made")
    unowned = [made for made in created if made not in owners]
    ambiguous = [
        j
        for j in jobs
        if j.remote_id is None and j.error is not None and j.error.code == "ambiguous_submission"
    ]
    if len(unowned) > len(ambiguous):
        problems.append(
            f"{len(unowned)} made at the server and owned by no job ({unowned}); only "
            f"{len(ambiguous)} job(s) failed ambiguous_submission"
        )
    for made, holders in owners.items():
        if len(holders) > 1:
            problems.append(f"{made} owned by {holders}")
    if creates is not None and len(created) != creates:
        problems.append(f"{len(created)} made at the server, expected {creates}")
    assert not problems, "\n".join(problems)
