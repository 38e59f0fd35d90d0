"""The console chat driven the way a user would: piped input into `tipster demo`."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def run_demo(tmp_path: Path, script: str, *extra_env: tuple[str, str]) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TIPSTER_")}
    env["TIPSTER_SENTIMENT__MODEL"] = "offline"
    env.update(dict(extra_env))
    return subprocess.run(
        [sys.executable, "-m", "bot.cli", "--config", str(ROOT / "config.yaml"), "demo",
         "--db", str(tmp_path / "demo.sqlite"), "--log", str(tmp_path / "demo.log")],
        input=script, capture_output=True, text=True, timeout=120, cwd=ROOT, env=env,
    )


def test_piped_signal_shows_a_demo_tip_and_exits_cleanly(tmp_path: Path):
    result = run_demo(tmp_path, "/signal BTC/USDT 1h\n")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "> /signal BTC/USDT 1h" in out
    assert "BTC/USDT · 1h · DEMO" in out
    assert "Reasoning: Technical:" in out and "Not financial advice" in out
    assert "[1] 🔄 Refresh" in out and "[3] ✖ Dismiss" in out
    assert out.rstrip().endswith("Bye.")


def test_numbered_buttons_and_bad_input(tmp_path: Path):
    script = "\n".join([
        "/signal",            # picker
        "1",                  # BTC/USDT
        "2",                  # 1h
        "2",                  # History of that tip
        "/signal NOPE/USDT",  # unknown symbol
        "9",                  # no such button
        "/history 1",
    ]) + "\n"
    result = run_demo(tmp_path, script)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "Which market?" in out and "BTC/USDT: which timeframe?" in out
    assert "signal_created" in out
    assert "Unknown symbol NOPE/USDT" in out
    assert "There is no button 9 on screen." in out
    assert "Traceback" not in out + result.stderr


def test_invalid_config_stops_with_one_line(tmp_path: Path):
    result = run_demo(tmp_path, "", ("TIPSTER_MARKET__BARS", "lots"))
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0
    assert "market.bars" in result.stderr


def test_run_without_token_explains(tmp_path: Path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("TIPSTER_")}
    result = subprocess.run([sys.executable, "-m", "bot.cli", "--config", str(ROOT / "config.yaml"), "run"],
                            capture_output=True, text=True, timeout=60, cwd=ROOT, env=env)
    assert result.returncode == 2
    assert "no chat token configured" in result.stderr
    assert "TIPSTER_TELEGRAM__TOKEN" in result.stderr and "TIPSTER_DISCORD__TOKEN" in result.stderr


def test_approval_flow_in_the_console(tmp_path: Path):
    script = "\n".join([
        "/as alice",
        "/start",
        "/signal BTC/USDT 1h",   # refused: pending
        "/as local",             # the owner (admin); the approval alert with buttons prints on the way
        "/users state=pending",
        "1",                     # press [Approve 30 days] on the alert
        "/as alice",
        "/signal BTC/USDT 1h",
        "/as bob",
        "/start",
        "/as local",
        "4",                     # [Reject] on bob's alert
        "/as bob",
        "/signal BTC/USDT 1h",
        "/grant console:local viewer",
    ]) + "\n"
    result = run_demo(tmp_path, script, ("TIPSTER_ACCESS__MODE", "approval"))
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "waiting for an admin's approval" in out
    assert "🔔 ALERT (chat local): New user waiting for approval" in out
    assert "[1] Approve 30 days  [2] Approve 90 days  [3] Approve …  [4] Reject" in out
    assert "console:alice is trader until" in out
    assert "🔔 ALERT (chat alice): Access approved" in out or "🔔 ALERT: Access approved" in out
    assert "BTC/USDT · 1h · DEMO" in out
    assert "console:bob was rejected" in out
    assert "Your access has been disabled" in out
    assert "Traceback" not in out + result.stderr


def test_open_a_position_and_take_profit_in_the_console(tmp_path: Path):
    """/signal → [Open position] → [$500] → [Confirm] → the replay runs on → take-profit exit → /pnl.

    2024-08-23 12:00 UTC is a moment of the bundled BTC/USDT data where a forced BUY reaches its
    take-profit (3 ATR) before its stop (2 ATR), a little over two market hours later; at 1800× the
    replay gets there in about five seconds."""
    script = "\n".join([
        "/signal BTC/USDT 1h buy=-0.9 sell=-1",
        "4",        # [💰 Open position]
        "2",        # [$500]
        "1",        # [Confirm]
        "/wait 9",
        "/pnl",
    ]) + "\n"
    result = run_demo(tmp_path, script, ("TIPSTER_MARKET__REPLAY__START", "2024-08-23T12:00:00Z"),
                      ("TIPSTER_MARKET__REPLAY__SPEED", "1800"), ("TIPSTER_MONITOR__POSITIONS_INTERVAL", "1"))
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "[4] 💰 Open position" in out
    assert "✔ position size: position $500.00 is 5.0% of equity $10,000.00 (limit 10%)" in out
    # The fill is told once, by the reply to [Confirm], not again as an alert.
    assert "Position #1 opened" in out and "🔔 ALERT: ✅ Filled" not in out
    assert "🔔 ALERT: 🎯 Closed #1 BTC/USDT (take profit)" in out
    assert "By exit reason: take_profit 1" in out
    assert "Traceback" not in out + result.stderr


def test_a_number_answering_a_question_is_the_answer(tmp_path: Path):
    """While the bot waits for a typed answer (a custom size, a number of days), digits are that answer, not a
    press of a button still on screen; with no question open a number presses, and [N] always does."""
    script = "\n".join([
        "/signal BTC/USDT 1h buy=-0.9 sell=-1",
        "4",        # [💰 Open position]
        "4",        # [Custom…]
        "1500",     # the size: not "no button 1500"
        "/cancel",
        "/as alice",
        "/start",
        "/as local",
        "3",        # [Approve …] on alice's alert: asks for how many days, with a [Cancel] button
        "1",        # one day: not [1] Cancel
        "/as carol",
        "/start",
        "/as local",
        "3",        # [Approve …] on carol's alert
        "[1]",      # [N] presses even while a question is open: Cancel
    ]) + "\n"
    result = run_demo(tmp_path, script, ("TIPSTER_ACCESS__MODE", "approval"))
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "type the number to press it" in out.splitlines()[0]  # the banner says how
    assert "BTC/USDT · size $1,500.00" in out
    assert "✖ position size: position $1,500.00 is 15.0% of equity $10,000.00 (limit 10%)" in out
    assert "There is no button" not in out
    assert "For how many days should console:alice get access?" in out
    assert "console:alice is trader until" in out
    assert "For how many days should console:carol get access?" in out
    assert "console:carol is trader until" not in out and "Cancelled." in out
    assert "Traceback" not in out + result.stderr
