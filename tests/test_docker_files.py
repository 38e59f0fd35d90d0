"""The Dockerfile and docker-compose.yml, checked without Docker (it cannot run here): the commands they run
are subcommands the real `tipster` parser has, the image does not run as root, what it copies exists, the
extras it installs are the ones `tipster run` needs, and the compose file's Redis URL names its Redis service."""

from __future__ import annotations

import argparse
import json
import posixpath
import re
import shlex
import tomllib
from pathlib import Path, PurePosixPath
from typing import Any

import pytest
import yaml

from bot import cli
from bot.settings import load_settings

ROOT = Path(__file__).resolve().parent.parent


def instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of a Dockerfile: comments dropped, backslash continuations joined."""
    out: list[tuple[str, str]] = []
    pending = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if line.startswith("#"):  # a comment inside a continued instruction
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        full = (pending + line).strip()
        pending = ""
        if full:
            word, _, rest = full.partition(" ")
            out.append((word.upper(), rest.strip()))
    assert not pending, "the Dockerfile ends inside a continued line"
    return out


def final_stage(steps: list[tuple[str, str]]) -> list[tuple[str, str]]:
    starts = [i for i, (word, _) in enumerate(steps) if word == "FROM"]
    assert starts, "no FROM"
    return steps[starts[-1]:]


def exec_form(args: str) -> list[str]:
    """A JSON-array (exec form) command; the shell form is refused (it would not get SIGTERM)."""
    value = json.loads(args)
    assert isinstance(value, list) and all(isinstance(v, str) for v in value), args
    return value


def subcommands() -> set[str]:
    """The subcommands of the parser `tipster` itself builds (cli.main), caught as it parses."""
    caught: list[argparse.ArgumentParser] = []

    class Caught(Exception):
        pass

    def catch(self: argparse.ArgumentParser, *args: Any, **kwargs: Any) -> Any:
        caught.append(self)
        raise Caught

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(argparse.ArgumentParser, "parse_args", catch)
        with pytest.raises(Caught):
            cli.main(["run"])
    [parser] = caught
    actions = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    assert actions, "tipster has no subcommands"
    return set(actions[0].choices)


@pytest.fixture(scope="module")
def dockerfile() -> list[tuple[str, str]]:
    return instructions((ROOT / "Dockerfile").read_text())


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_the_parser_reader_sees_the_known_subcommands() -> None:
    assert {"run", "demo", "download-model"} <= subcommands()


def test_cmd_and_healthcheck_run_tipster_subcommands_that_exist(dockerfile: list[tuple[str, str]]) -> None:
    final = final_stage(dockerfile)
    cmds = [args for word, args in final if word == "CMD"]
    assert cmds, "no CMD"
    assert exec_form(cmds[-1]) == ["tipster", "run"]
    [health] = [args for word, args in final if word == "HEALTHCHECK"]
    options, sep, command = health.partition("CMD ")
    assert sep, f"HEALTHCHECK without CMD: {health}"
    assert all(o.startswith("--") for o in options.split()), options
    check = exec_form(command)
    assert check[0] == "tipster" and check[1] == "health", check
    existing = subcommands()
    for argv in (exec_form(cmds[-1]), check):
        assert argv[1] in existing, f"`tipster {argv[1]}` is not a subcommand ({sorted(existing)})"


def test_slim_image_not_root(dockerfile: list[tuple[str, str]]) -> None:
    final = final_stage(dockerfile)
    assert "slim" in final[0][1], final[0]
    users = [args.split(":")[0] for word, args in final if word == "USER"]
    assert users, "no USER: the container would run as root"
    assert users[-1] not in ("root", "0"), users
    # The USER is created in the image before it is used.
    created = " ".join(args for word, args in final if word == "RUN")
    assert re.search(rf"useradd\b[^&]*\b{re.escape(users[-1])}\b", created), "the USER is never created"


def test_every_copied_path_exists(dockerfile: list[tuple[str, str]]) -> None:
    copies = [args for word, args in dockerfile if word in ("COPY", "ADD")]
    assert copies
    checked = 0
    for args in copies:
        parts = json.loads(args) if args.startswith("[") else shlex.split(args)
        flags = [p for p in parts if p.startswith("--")]
        if any(f.startswith("--from") for f in flags):
            continue  # copied from an earlier stage, not from the repository
        paths = [p for p in parts if not p.startswith("--")]
        for source in paths[:-1]:
            assert (ROOT / source).exists(), f"COPY {source}: not in the repository"
            checked += 1
    assert checked >= 4


def test_the_data_and_config_live_on_volumes(dockerfile: list[tuple[str, str]]) -> None:
    final = final_stage(dockerfile)
    [volume] = [exec_form(args) for word, args in final if word == "VOLUME"]
    workdir = [args for word, args in final if word == "WORKDIR"][-1]
    env = " ".join(args for word, args in final if word == "ENV")
    config_path = re.search(r"TIPSTER_CONFIG=(\S+)", env)
    assert config_path, "TIPSTER_CONFIG is not set: which config would the image read?"
    assert posixpath.dirname(config_path.group(1)) in volume
    # The database (storage.sqlite_path, relative to the working directory) is on a volume.
    database = PurePosixPath(workdir) / load_settings(ROOT / "config.yaml").storage.sqlite_path
    assert str(database.parent) in volume, (database, volume)
    # The image's config is the repository's, copied to where TIPSTER_CONFIG points.
    assert any(args.split()[-1] == config_path.group(1) and args.split()[0] == "config.yaml"
               for word, args in final if word == "COPY")


def test_the_installed_extras_are_what_tipster_run_needs(dockerfile: list[tuple[str, str]]) -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras = project["optional-dependencies"]
    installs = [args for word, args in final_stage(dockerfile) if word == "RUN" and "pip install" in args]
    assert installs, "the image installs nothing"
    chosen = set()
    for args in installs:
        for group in re.findall(r"\[([a-z0-9_,\s-]+)\]", args):
            chosen |= {e.strip() for e in group.split(",")}
    assert chosen, "no extras installed"
    assert chosen <= set(extras), f"unknown extras {chosen - set(extras)}"
    assert not chosen & {"test", "bench"}, "test and bench tools have no place in the image"
    # `tipster run` live: market data and brokers (ccxt, Alpaca), feeds, and the compose file's Redis.
    packages = {re.split(r"[<>=\[ ;]", dep, maxsplit=1)[0].lower() for e in chosen for dep in extras[e]}
    assert {"ccxt", "alpaca-py", "feedparser", "redis"} <= packages, packages


def test_compose_redis_url_names_the_redis_service(compose: dict[str, Any], dockerfile: list[tuple[str, str]]
                                                   ) -> None:
    services = compose["services"]
    bot = services["tipster"]
    assert bot["build"] in (".", {"context": "."})
    env = bot["environment"]
    env = dict(e.split("=", 1) if "=" in e else (e, None) for e in env) if isinstance(env, list) else env
    url = env["TIPSTER_STORAGE__REDIS_URL"]
    match = re.fullmatch(r"redis://([a-z0-9_-]+):(\d+)/\d+", url)
    assert match, url
    host, port = match.group(1), int(match.group(2))
    assert host in services and services[host]["image"].startswith("redis"), (host, list(services))
    command = services[host].get("command") or []
    assert port == 6379 and "--port" not in command  # redis-server's default port
    assert host in bot["depends_on"]
    # The bot's database is on a named volume declared at the top level, at one of the image's VOLUMEs.
    [volume] = [exec_form(args) for word, args in final_stage(dockerfile) if word == "VOLUME"]
    named = [v.split(":") for v in bot["volumes"] if v.split(":")[0] in (compose.get("volumes") or {})]
    assert named and all(target in volume for _, target, *_ in named), bot["volumes"]
    # Bind mounts from the repository name files that exist (the config).
    for source, *_ in (v.split(":") for v in bot["volumes"]):
        if source.startswith("./"):
            assert (ROOT / source).exists(), source
    # Secrets are passed through from the environment, never written in the file.
    for key in ("TIPSTER_TELEGRAM__TOKEN", "TIPSTER_DISCORD__TOKEN", "TIPSTER_SECRET_KEY"):
        assert env.get(key) is None, key
