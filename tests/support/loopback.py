"""Serving an aiohttp app on a free loopback port: the one thing every local test server does."""

from __future__ import annotations

from typing import Self

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
