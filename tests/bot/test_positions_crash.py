"""kill -9 while opening and while closing a broker position: after a restart, storage and broker agree."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

from engine.market.replay import ReplayMarket
from tests.support.fake_alpaca import FakeAlpaca

ROOT = Path(__file__).resolve().parents[2]


def worker(db: Path, url: str, action: str) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TIPSTER_")}
    return subprocess.Popen([sys.executable, "-m", "tests.support.position_worker", str(db), url, action],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


async def run_to_end(db: Path, url: str, action: str) -> str:
    proc = worker(db, url, action)
    out, err = await asyncio.to_thread(proc.communicate, timeout=60)
    assert proc.returncode == 0, err
    return out


def position_row(db: Path) -> tuple:
    con = sqlite3.connect(db)
    try:
        return con.execute("SELECT status, quantity, entry_price, exit_price FROM positions").fetchone()
    finally:
        con.close()


async def kill_when(proc: subprocess.Popen[str], condition, wait_at_most: float = 30) -> None:
    for _ in range(int(wait_at_most / 0.05)):
        if condition():
            break
        await asyncio.sleep(0.05)
    else:
        proc.kill()
        raise AssertionError("the worker never reached the point to kill it")
    os.kill(proc.pid, signal.SIGKILL)
    await asyncio.to_thread(proc.wait)


async def test_kill_while_opening_and_while_closing(tmp_path: Path):
    db = tmp_path / "crash.sqlite"
    price = await ReplayMarket(start=500, speed=60).last_price("AAPL")
    async with FakeAlpaca() as alpaca:
        alpaca.prices["AAPL"] = price  # the broker quotes what the replay shows

        # 1. Killed while the entry order is at the broker, before its answer came back.
        alpaca.slow_next_order(30)
        proc = worker(db, alpaca.base_url, "open")
        await kill_when(proc, lambda: alpaca.by_client_id and db.exists() and
                        (position_row(db) or ("",))[0] == "pending")
        assert position_row(db)[0] == "pending"
        await run_to_end(db, alpaca.base_url, "reconcile")
        status, quantity, entry, _ = position_row(db)
        [entry_order] = [o for o in alpaca.by_client_id.values()]
        assert status == "open"
        assert Decimal(quantity) == entry_order.filled_qty == alpaca.positions["AAPL"]
        assert Decimal(entry) == entry_order.filled_avg_price

        # 2. Killed while the exit order is at the broker.
        alpaca.slow_next_order(30)
        proc = worker(db, alpaca.base_url, "close")
        await kill_when(proc, lambda: position_row(db)[0] == "closing" and len(
            [o for o in alpaca.by_client_id.values() if o.side == "sell"]) >= 1)
        await run_to_end(db, alpaca.base_url, "reconcile")
        status, _, _, exit_price = position_row(db)
        assert status == "closed" and exit_price is not None
        assert alpaca.positions.get("AAPL", Decimal(0)) == 0  # the broker is flat, as storage says


async def test_a_bracket_leg_filled_at_the_broker_closes_the_position(tmp_path: Path):
    db = tmp_path / "leg.sqlite"
    price = await ReplayMarket(start=500, speed=60).last_price("AAPL")
    async with FakeAlpaca() as alpaca:
        alpaca.prices["AAPL"] = price
        await run_to_end(db, alpaca.base_url, "open")
        assert position_row(db)[0] == "open"
        [entry] = list(alpaca.by_client_id)
        alpaca.trigger_leg(entry, "take_profit")
        await run_to_end(db, alpaca.base_url, "sync")
        status, _, _, exit_price = position_row(db)
        assert status == "closed" and Decimal(exit_price) > price
        con = sqlite3.connect(db)
        assert con.execute("SELECT exit_reason FROM positions").fetchone()[0] == "take_profit"
        con.close()
