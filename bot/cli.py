"""`tipster demo` (console chat on bundled data) and `tipster run` (Telegram)."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from pathlib import Path

from bot.logging_setup import setup_logging
from engine.config import ConfigError, Settings, load_settings

CONSOLE_OWNER = "console:local"


def _load(args: argparse.Namespace) -> Settings:
    overrides = {}
    if getattr(args, "db", None):
        overrides["storage"] = {"sqlite_path": args.db}
    try:
        return load_settings(args.config, **overrides)
    except ConfigError as exc:
        print(f"tipster: invalid configuration: {exc}", file=sys.stderr)
        raise SystemExit(2) from None


async def _demo(settings: Settings) -> None:
    from bot.app import jobs_running, open_core
    from bot.console.chat import ConsoleChat

    # The person at the terminal runs the process: the console user is its owner (admin).
    if CONSOLE_OWNER not in settings.admins:
        settings = settings.model_copy(update={"admins": [*settings.admins, CONSOLE_OWNER]})
    async with open_core(settings) as core, jobs_running(core):
        await ConsoleChat(core).run()


async def _run(settings: Settings) -> None:
    from bot.app import jobs_running, open_core
    from bot.telegram.runner import run_telegram

    async with open_core(settings) as core, jobs_running(core):
        await run_telegram(core)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="tipster", description="Trading tips in chat.")
    parser.add_argument("--config", help="path to config.yaml (default: $TIPSTER_CONFIG or ./config.yaml)")
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="console chat on bundled real data (no tokens, no network)")
    demo.add_argument("--db", help="SQLite file (default: storage.sqlite_path)")
    demo.add_argument("--log", default="data/tipster-demo.log", help="log file for the console chat")
    run = sub.add_parser("run", help="run the Telegram bot (needs telegram.token)")
    run.add_argument("--db", help="SQLite file (default: storage.sqlite_path)")
    args = parser.parse_args(argv)
    settings = _load(args)
    secrets = [s for s in (settings.telegram.token, settings.discord.token) if s]
    try:
        if args.command == "demo":
            Path(args.log).parent.mkdir(parents=True, exist_ok=True)
            setup_logging(logging.INFO, secrets, filename=args.log)
            asyncio.run(_demo(settings))
        else:
            if not settings.telegram.token:
                print("tipster: no Telegram token configured. Set TIPSTER_TELEGRAM__TOKEN or telegram.token "
                      "in config.yaml (or try `tipster demo`).", file=sys.stderr)
                return 2
            setup_logging(logging.INFO, secrets)
            asyncio.run(_run(settings))
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
