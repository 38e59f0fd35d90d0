"""Serving an aiohttp app on a free loopback port: the one thing every local test server does."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Self

from aiohttp import web


async def serve_on_loopback(app: web.Application) -> tuple[web.AppRunner, str]:
    """Start `app` on 127.0.0.1 at a port the OS picks; returns the runner (to clean up) and the base URL."""
    runner = web.AppRunner(app, shutdown_timeout=0.1)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    return runner, f"http://127.0.0.1:{port}"


class LoopbackServer:
    """A local test server's life cycle: `start()` serves `app()` on a free loopback port (`base_url`), and
    `stop()` or leaving `async with` shuts it down. Subclasses only say what their app routes."""

    base_url: str = ""
    _runner: web.AppRunner | None = None

    def app(self) -> web.Application:
        raise NotImplementedError

    async def start(self) -> Self:
        self._runner, self.base_url = await serve_on_loopback(self.app())
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> Self:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()


@dataclass
class Fault:
    """A scripted answer for the next request under `path` (a prefix), and of `method` when one is given."""

    path: str
    status: int
    body: dict[str, Any] | str
    headers: dict[str, str] = field(default_factory=dict)
    method: str | None = None
    content_type: str = "text/plain"  # of a text body


def take_fault(faults: list[Fault], request: web.Request) -> web.Response | None:
    """The first scripted fault matching `request` as its response, consumed; None when none matches."""
    for fault in faults:
        if (fault.method is None or fault.method == request.method) and request.path.startswith(fault.path):
            faults.remove(fault)
            if isinstance(fault.body, str):
                return web.Response(text=fault.body, status=fault.status, headers=fault.headers,
                                    content_type=fault.content_type)
            return web.json_response(fault.body, status=fault.status, headers=fault.headers)
    return None
