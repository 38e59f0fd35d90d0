"""`tipster demo` (console chat), `tipster run` (Telegram) and `tipster download-model` (FinBERT weights)."""

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


def _download_model(path: str) -> int:
    from engine.sentiment.download import DownloadFailed, download_finbert

    try:
        where = download_finbert(path)
    except DownloadFailed as exc:
        print(f"tipster: {exc}", file=sys.stderr)
        return 1
    print(f"FinBERT weights saved in {where}; sentiment.model auto now uses them.")
    return 0


def _model_problem(settings: Settings) -> str | None:
    """`sentiment.model: finbert` without usable weights stops start-up; `auto` says once which it uses."""
    from engine.sentiment.protocols import SentimentUnavailable
    from engine.sentiment.registry import resolve_model

    try:
        _, note = resolve_model(settings.sentiment.model, settings.sentiment.finbert_path)
    except SentimentUnavailable as exc:
        return str(exc)
    if note:
        print(f"tipster: {note}", file=sys.stderr)
    return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="tipster", description="Trading tips in chat.")
    parser.add_argument("--config", help="path to config.yaml (default: $TIPSTER_CONFIG or ./config.yaml)")
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="console chat on bundled real data (no tokens, no network)")
    demo.add_argument("--db", help="SQLite file (default: storage.sqlite_path)")
    demo.add_argument("--log", default="data/tipster-demo.log", help="log file for the console chat")
    run = sub.add_parser("run", help="run the Telegram bot (needs telegram.token)")
    run.add_argument("--db", help="SQLite file (default: storage.sqlite_path)")
    download = sub.add_parser("download-model", help="fetch ProsusAI/finbert into sentiment.finbert_path "
                                                     "(needs internet)")
    download.add_argument("--path", help="target folder (default: sentiment.finbert_path)")
    args = parser.parse_args(argv)
    settings = _load(args)
    if args.command == "download-model":
        return _download_model(args.path or settings.sentiment.finbert_path)
    if (problem := _model_problem(settings)) is not None:
        print(f"tipster: {problem}", file=sys.stderr)
        return 2
    secrets = [s for s in (settings.telegram.token, settings.discord.token, settings.brokers.alpaca.key,
                           settings.brokers.alpaca.secret, settings.brokers.ccxt.key,
                           settings.brokers.ccxt.secret) if s]
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
