"""`tipster demo` (console chat), `tipster run` (Telegram and/or Discord, by which tokens are set),
`tipster download-model` (FinBERT weights) and `tipster health` (bot.health)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import sys
from pathlib import Path

from bot.logging_setup import mask_secrets, settings_secrets, setup_logging
from bot.settings import ConfigError, Settings, load_settings

CONSOLE_OWNER = "console:local"
log = logging.getLogger("tipster")


def _load(args: argparse.Namespace) -> Settings:
    try:
        settings = load_settings(args.config)
    except ConfigError as exc:
        print(f"tipster: invalid configuration: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    if getattr(args, "db", None):
        # A flag on the command line wins over TIPSTER_STORAGE__SQLITE_PATH (env outranks values passed in).
        settings = settings.model_copy(update={"storage": settings.storage.model_copy(
            update={"sqlite_path": args.db})})
    return settings


def _startup_failures() -> tuple[type[BaseException], ...]:
    """What stops the bot for a reason an operator can fix; each says so in one line (no traceback)."""
    from bot.discord.runner import DiscordUnavailable
    from bot.metrics import MetricsUnavailable
    from bot.telegram.runner import TelegramUnavailable
    from storage.db import DatabaseUnavailable

    return TelegramUnavailable, DiscordUnavailable, DatabaseUnavailable, ConfigError, MetricsUnavailable


def _serve(command: str, settings: Settings, secrets: list[str]) -> int:
    """Run the demo or the bot until it stops; a failure ends with one masked `tipster:` line and exit 1."""
    try:
        asyncio.run(_demo(settings) if command == "demo" else _run(settings))
    except KeyboardInterrupt:
        pass
    except _startup_failures() as exc:
        print(f"tipster: {mask_secrets(str(exc), secrets)}", file=sys.stderr)
        return 1
    except Exception as exc:  # a bug: the traceback goes to the log (masked), the operator gets one line
        log.error("stopped by an unexpected error", exc_info=exc)
        print(f"tipster: stopped by an unexpected error ({type(exc).__name__}: "
              f"{mask_secrets(str(exc), secrets)[:200]}); details are in the log", file=sys.stderr)
        return 1
    return 0


async def _demo(settings: Settings) -> None:
    from bot.app import jobs_running, open_core, stop_on_signals
    from bot.console.chat import ConsoleChat

    # The person at the terminal runs the process: the console user is its owner (admin).
    if CONSOLE_OWNER not in settings.admins:
        settings = settings.model_copy(update={"admins": [*settings.admins, CONSOLE_OWNER]})
    stop = stop_on_signals()
    try:
        async with open_core(settings) as core, jobs_running(core):
            chat = asyncio.create_task(ConsoleChat(core).run(), name="console")
            signalled = asyncio.create_task(stop.wait())
            await asyncio.wait({chat, signalled}, return_when=asyncio.FIRST_COMPLETED)
            signalled.cancel()
            if not chat.done():  # Ctrl-C or SIGTERM: the line being answered is cut, its alerts stay queued
                chat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await chat
    finally:
        stop.finished()


async def _run(settings: Settings) -> None:
    from bot.app import chats_running, jobs_running, open_core, stop_on_signals

    stop = stop_on_signals()
    try:
        # Unwound in reverse on the first signal: the chats stop taking updates and finish their sends,
        # the jobs finish their step, then storage is closed (WAL checkpointed).
        async with open_core(settings) as core, jobs_running(core), chats_running(core):
            await stop.wait()
            core.runs.cancel_all()  # a long /backtest ends at its next batch, inside the shutdown's grace
    finally:
        stop.finished()
    log.info("stopped cleanly")


def _download_model(path: str) -> int:
    from engine.sentiment.download import DownloadFailed, download_finbert

    try:
        where = download_finbert(path)
    except DownloadFailed as exc:
        print(f"tipster: {exc}", file=sys.stderr)
        return 1
    print(f"FinBERT weights saved in {where}; sentiment.model auto now uses them.")
    return 0


def _rotate_keys(settings: Settings) -> int:
    """Every stored broker key re-encrypted under the newest master key, in one transaction."""
    from bot.core.usecases.broker_keys import rotate_all
    from bot.core.vault import ENV_NAME, Vault, VaultError
    from storage.db import DatabaseUnavailable
    from storage.store import Storage

    try:
        vault = Vault.from_env()
    except ValueError as exc:
        print(f"tipster: {exc}", file=sys.stderr)
        return 2
    if vault is None:
        print(f"tipster: rotate-keys needs {ENV_NAME}: the new master key first, then the old ones, comma-separated",
              file=sys.stderr)
        return 2

    async def rotate() -> int:
        storage = await Storage.open(settings.storage.sqlite_path)
        try:
            return await rotate_all(storage, vault)
        finally:
            await storage.close()

    try:
        count = asyncio.run(rotate())
    except (VaultError, DatabaseUnavailable) as exc:
        print(f"tipster: {exc}; nothing was changed", file=sys.stderr)
        return 1
    print(f"Re-encrypted {count} stored broker key pair(s) under the newest master key; the older keys can now "
          f"be removed from {ENV_NAME}.")
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
    run = sub.add_parser("run", help="run the bot on Telegram and/or Discord (needs telegram.token or discord.token)")
    run.add_argument("--db", help="SQLite file (default: storage.sqlite_path)")
    download = sub.add_parser("download-model", help="fetch ProsusAI/finbert into sentiment.finbert_path "
                                                     "(needs internet)")
    download.add_argument("--path", help="target folder (default: sentiment.finbert_path)")
    rotate = sub.add_parser("rotate-keys", help="re-encrypt every stored broker key under the newest master key "
                                                "(the first of TIPSTER_SECRET_KEY)")
    rotate.add_argument("--db", help="SQLite file (default: storage.sqlite_path)")
    health = sub.add_parser("health", help="one line per part (storage, config, market, model, ...) for a health "
                                           "check; exit 1 only when storage or config fails")
    health.add_argument("--db", help="SQLite file (default: storage.sqlite_path)")
    args = parser.parse_args(argv)
    if args.command == "health":  # before _load: an invalid config is one of its lines, and exit 1
        from bot.health import report

        lines, status = report(args.config, args.db)
        print("\n".join(lines))
        return status
    settings = _load(args)
    if args.command == "download-model":
        return _download_model(args.path or settings.sentiment.finbert_path)
    if args.command == "rotate-keys":
        return _rotate_keys(settings)
    if (problem := _model_problem(settings)) is not None:
        print(f"tipster: {problem}", file=sys.stderr)
        return 2
    secrets = settings_secrets(settings)
    if args.command == "demo":
        try:
            Path(args.log).parent.mkdir(parents=True, exist_ok=True)
            setup_logging(logging.INFO, secrets, filename=args.log, fmt=settings.logging.format)
        except OSError as exc:
            print(f"tipster: cannot write the log file {args.log}: {exc.strerror or exc}", file=sys.stderr)
            return 1
    else:
        if not settings.telegram.token and not settings.discord.token:
            print("tipster: no chat token configured. Set TIPSTER_TELEGRAM__TOKEN (telegram.token) and/or "
                  "TIPSTER_DISCORD__TOKEN (discord.token), or try `tipster demo`.", file=sys.stderr)
            return 2
        setup_logging(logging.INFO, secrets, fmt=settings.logging.format)
    return _serve(args.command, settings, secrets)


if __name__ == "__main__":
    raise SystemExit(main())
