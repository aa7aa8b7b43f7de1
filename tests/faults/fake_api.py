"""A fake UbiOps Services API on a real loopback port that misbehaves on request.

It speaks raw HTTP/1.1 over asyncio streams (in its own thread and event loop), so it can do what a
well-behaved framework cannot: drop the connection after reading the request, send half a body,
stream 50 MB, or never answer. Each request path can be given a script: one behaviour per attempt,
the last one repeating. Unscripted requests get a small, correct in-memory Services API.

The fake counts what the client did (`requests`) and what actually changed (`applied`), so tests can
show retries and prove that no mutation happened twice.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote, urlsplit

PREFIX = "/v2.1"
CHUNK = b"x" * 65536


@dataclass(frozen=True)
class Normal:
    """Answer as the real API would."""


@dataclass(frozen=True)
class Reply:
    """A fixed answer; `apply` first performs the request normally (the change happens, this answer is sent)."""

    status: int
    body: bytes = b""
    content_type: str | None = "application/json"
    headers: tuple[tuple[str, str], ...] = ()
    apply: bool = False


@dataclass(frozen=True)
class Delay:
    """Wait `seconds`, then answer normally (the change, if any, is applied first when `apply`)."""

    seconds: float
    apply: bool = False


@dataclass(frozen=True)
class Drop:
    """Read the request, then close the connection without a byte of answer."""

    apply: bool = False


@dataclass(frozen=True)
class Truncate:
    """Send the headers of a JSON answer and part of its body, then close."""

    apply: bool = False


@dataclass(frozen=True)
class Huge:
    """A 200 with a body of `size` bytes, with Content-Length (declared) or chunked (not declared)."""

    size: int
    declared: bool = True


Behaviour = Normal | Reply | Delay | Drop | Truncate | Huge


def json_reply(status: int, body: Any, **extra: Any) -> Reply:
    return Reply(status, json.dumps(body).encode(), **extra)


@dataclass
class Seen:
    """One request as the fake read it."""

    method: str
    path: str
    headers: dict[str, str]
    at: float


@dataclass
class FakeApi:
    host: str = "127.0.0.1"
    port: int = 0
    scripts: dict[tuple[str, str], list[Behaviour]] = field(default_factory=dict[tuple[str, str], list[Behaviour]])
    services: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict[tuple[str, str], dict[str, Any]])
    requests: list[Seen] = field(default_factory=list[Seen])
    applied: list[tuple[str, str]] = field(default_factory=list[tuple[str, str]])
    body_bytes_sent: int = 0
    on_request: Callable[[Seen], None] | None = None
    _loop: asyncio.AbstractEventLoop | None = None
    _server: asyncio.Server | None = None
    _thread: threading.Thread | None = None
    _tasks: set[asyncio.Task[None]] = field(default_factory=set[asyncio.Task[None]])
    _ids: int = 0

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}{PREFIX}"

    # --- scripting and counting -------------------------------------------------------------------

    def script(self, method: str, path: str, *behaviours: Behaviour) -> None:
        """Behaviours for successive requests to `method path` (path without /v2.1); the last repeats."""
        self.scripts[(method, path)] = list(behaviours)

    def add_service(self, project: str, name: str, **fields: Any) -> dict[str, Any]:
        self._ids += 1
        detail = {
            "id": f"id-{self._ids}",
            "name": name,
            "deployment": "hello-world",
            "version": None,
            "port": 8080,
            "labels": {},
            "authentication_required": True,
            "time_created": "2025-01-01T00:00:00Z",
            "time_updated": "2025-01-01T00:00:00Z",
            **fields,
        }
        self.services[(project, name)] = detail
        return detail

    def count(self, method: str, path: str) -> int:
        return sum(1 for r in self.requests if r.method == method and r.path == PREFIX + path)

    def times(self, method: str, path: str) -> list[float]:
        return [r.at for r in self.requests if r.method == method and r.path == PREFIX + path]

    def applied_to(self, method: str, path: str) -> int:
        return self.applied.count((method, path))

    def _next(self, method: str, path: str) -> Behaviour:
        script = self.scripts.get((method, path))
        if not script:
            return Normal()
        return script.pop(0) if len(script) > 1 else script[0]

    # --- lifecycle -------------------------------------------------------------------------------

    def start(self) -> FakeApi:
        ready = threading.Event()

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            self._server = loop.run_until_complete(asyncio.start_server(self._handle, self.host, self.port))
            self.port = self._server.sockets[0].getsockname()[1]
            ready.set()
            loop.run_forever()
            loop.run_until_complete(self._shutdown())
            loop.close()

        self._thread = threading.Thread(target=run, name="fake-api", daemon=True)
        self._thread.start()
        if not ready.wait(10):
            raise RuntimeError("the fake API did not start")
        return self

    def stop(self) -> None:
        if self._loop is not None and self._thread is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)

    async def _shutdown(self) -> None:
        assert self._server is not None
        self._server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._server.wait_closed()

    # --- HTTP ------------------------------------------------------------------------------------

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)  # pyright: ignore[reportArgumentType]
        try:
            await self._exchange(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, asyncio.CancelledError):
            pass  # the client went away, or the fake is shutting down
        finally:
            self._tasks.discard(task)  # pyright: ignore[reportArgumentType]
            writer.close()

    async def _exchange(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        request_line, *lines = head.decode("latin-1").split("\r\n")
        method, target, _ = request_line.split(" ", 2)
        headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines if line)}
        body = await reader.readexactly(int(headers.get("content-length", "0")))
        raw_path = urlsplit(target).path
        seen = Seen(method, raw_path, headers, time.monotonic())
        self.requests.append(seen)
        if self.on_request is not None:
            self.on_request(seen)
        path = raw_path.removeprefix(PREFIX)
        behaviour = self._next(method, path)
        if isinstance(behaviour, Drop):
            if behaviour.apply:
                self._apply(method, path, body)
            return
        if isinstance(behaviour, Huge):
            await self._huge(writer, behaviour)
            return
        if isinstance(behaviour, Delay):
            status, payload = self._apply(method, path, body) if behaviour.apply else (0, None)
            await asyncio.sleep(behaviour.seconds)
            if not behaviour.apply:
                status, payload = self._apply(method, path, body)
            await self._send(writer, status, _encode(payload))
            return
        if isinstance(behaviour, Truncate):
            status, payload = self._apply(method, path, body) if behaviour.apply else (200, {"id": "x", "name": "x"})
            encoded = _encode(payload) or b'{"id": "x"}'
            writer.write(_head(status, "application/json", len(encoded) + 100) + encoded[: len(encoded) // 2])
            await writer.drain()
            return
        if isinstance(behaviour, Reply):
            if behaviour.apply:
                self._apply(method, path, body)
            await self._send(writer, behaviour.status, behaviour.body, behaviour.content_type, behaviour.headers)
            return
        status, payload = self._apply(method, path, body)
        await self._send(writer, status, _encode(payload))

    async def _send(
        self,
        writer: asyncio.StreamWriter,
        status: int,
        body: bytes,
        content_type: str | None = "application/json",
        headers: tuple[tuple[str, str], ...] = (),
    ) -> None:
        writer.write(_head(status, content_type if body or status != 204 else None, len(body), headers) + body)
        await writer.drain()

    async def _huge(self, writer: asyncio.StreamWriter, huge: Huge) -> None:
        if huge.declared:
            writer.write(_head(200, "application/json", huge.size))
        else:
            writer.write(_head(200, "application/json", None, (("Transfer-Encoding", "chunked"),)))
        sent = 0
        while sent < huge.size:
            piece = CHUNK[: min(len(CHUNK), huge.size - sent)]
            writer.write(piece if huge.declared else b"%x\r\n%s\r\n" % (len(piece), piece))
            await writer.drain()
            sent += len(piece)
            self.body_bytes_sent += len(piece)
        if not huge.declared:
            writer.write(b"0\r\n\r\n")
            await writer.drain()

    # --- the well-behaved API ---------------------------------------------------------------------

    def _apply(self, method: str, path: str, body: bytes) -> tuple[int, Any]:
        """The real API's answer to a request, changing the fake's state as it would."""
        parts = [unquote(p) for p in path.strip("/").split("/")]
        if parts == ["status"]:
            return 200, {"status": "ok"}
        if len(parts) < 3 or parts[0] != "projects" or parts[2] != "services":
            return 404, {"error": "Not found"}
        project = parts[1]
        if len(parts) == 3:
            if method == "GET":
                return 200, [s for (p, _), s in sorted(self.services.items()) if p == project]
            if method == "POST":
                data = json.loads(body)
                name = data.pop("name")
                if (project, name) in self.services:
                    return 409, {"error": f"A service with name '{name}' already exists"}
                self.applied.append((method, path))
                return 201, self.add_service(project, name, **data)
            return 405, {"error": "Method not allowed"}
        service = self.services.get((project, parts[3]))
        if service is None:
            return 404, {"error": "Service not found"}
        if len(parts) == 5 and parts[4] == "status":
            return 200, {"id": service["id"], "ready": True, "instances_ready": 1}
        if len(parts) > 4:
            return 404, {"error": "Not found"}
        if method == "GET":
            return 200, service
        if method == "PATCH":
            self.applied.append((method, path))
            service.update(json.loads(body), time_updated=f"2025-01-01T00:00:{len(self.applied):02d}Z")
            return 200, service
        if method == "DELETE":
            self.applied.append((method, path))
            del self.services[(project, parts[3])]
            return 204, None
        return 405, {"error": "Method not allowed"}


def _encode(payload: Any) -> bytes:
    return b"" if payload is None else json.dumps(payload).encode()


REASONS = {
    200: "OK", 201: "Created", 204: "No Content", 404: "Not Found", 409: "Conflict", 429: "Too Many Requests",
    500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable", 504: "Gateway Timeout",
}  # fmt: skip


def _head(
    status: int, content_type: str | None, length: int | None, headers: tuple[tuple[str, str], ...] = ()
) -> bytes:
    lines = [f"HTTP/1.1 {status} {REASONS.get(status, 'Status')}", "Connection: close"]
    if content_type is not None:
        lines.append(f"Content-Type: {content_type}")
    if length is not None:
        lines.append(f"Content-Length: {length}")
    lines += [f"{k}: {v}" for k, v in headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
