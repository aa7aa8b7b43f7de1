"""Command line: serve over stdio or HTTP, run the standalone sandbox, or check the configuration."""

from __future__ import annotations

import argparse
import gc
import sys
from collections.abc import Sequence
from typing import Any

from . import __version__
from .options import OPTIONS, from_env
from .settings import Settings, SettingsError

PROG = "ubiops-services-mcp"
SANDBOX_PORT = 8765
USAGE = "%(prog)s [options] [sandbox [--host H] [--port P] | check]"

DESCRIPTION = """\
MCP server for UbiOps services: create, get, list, update and delete services (HTTPS endpoints in front of
a deployment's instances) from an AI assistant. Update and delete are guarded by preview + confirmation.
With no UBIOPS_API_TOKEN it serves an embedded sandbox of the API (no credentials, no network).

commands:
  (none)     serve MCP over stdio (or HTTP with --transport http)
  sandbox    serve the sandbox API alone over HTTP on 127.0.0.1, for curl or the official UbiOps client
  check      verify the host, the token and the default project, and say plainly what is wrong

Every flag can also be set by the environment variable shown in brackets; flags win."""


def _add_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("settings (flag [environment variable])")
    for option in OPTIONS:
        help_text = f"{option.help} [{option.env}]"
        if option.switch:
            group.add_argument(option.flag, dest=option.field, action="store_const", const=option.flag,
                               default=argparse.SUPPRESS, help=help_text)  # fmt: skip
        else:
            group.add_argument(option.flag, dest=option.field, metavar="VALUE", default=argparse.SUPPRESS,
                               help=help_text)  # fmt: skip


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    _add_options(common)
    parser = argparse.ArgumentParser(
        prog=PROG, usage=USAGE, description=DESCRIPTION, parents=[common],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )  # fmt: skip
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    transport = parser.add_argument_group("transport")
    transport.add_argument("--transport", choices=("stdio", "http"), default="stdio",
                           help="stdio (default, for desktop clients) or http (streamable HTTP at /mcp)")  # fmt: skip
    transport.add_argument("--host", default=argparse.SUPPRESS, help="HTTP bind address (default 127.0.0.1)")
    transport.add_argument("--port", type=int, default=argparse.SUPPRESS, help="HTTP port (default 8000)")
    transport.add_argument("--stateless", action="store_true",
                           help="HTTP without sessions, for several replicas behind a load balancer")  # fmt: skip
    # The commands are listed in DESCRIPTION and USAGE, so their parser shows no (empty) "positional arguments"
    # heading; SUPPRESS keeps a --host/--port given before the command rather than the command's default.
    commands = parser.add_subparsers(dest="command", help=argparse.SUPPRESS)
    sandbox = commands.add_parser(
        "sandbox", prog=f"{PROG} sandbox", parents=[common], help="serve the sandbox API over HTTP"
    )
    sandbox.add_argument("--host", default=argparse.SUPPRESS, help="bind address (default 127.0.0.1)")
    sandbox.add_argument("--port", type=int, default=argparse.SUPPRESS, help=f"port (default {SANDBOX_PORT})")
    commands.add_parser("check", prog=f"{PROG} check", parents=[common], help="check host, token and default project")
    return parser


def settings_from(args: argparse.Namespace, env: Any = None) -> Settings:
    """Environment first, then every flag given on the command line."""
    settings = from_env(env)
    overrides: dict[str, Any] = {}
    for option in OPTIONS:
        if not hasattr(args, option.field):
            continue
        raw = getattr(args, option.field)
        if option.switch:
            overrides[option.field] = not raw.startswith("--no-")
        else:
            overrides[option.field] = option.parse(option.flag, raw)
    transport = getattr(args, "transport", "stdio")
    port = getattr(args, "port", SANDBOX_PORT if getattr(args, "command", None) == "sandbox" else None)
    overrides |= {"transport": transport, "host": getattr(args, "host", None), "port": port}
    overrides["stateless"] = bool(getattr(args, "stateless", False))
    return settings.with_overrides(**overrides)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = settings_from(args)
    except SettingsError as error:
        print(f"ubiops-services-mcp: {error}", file=sys.stderr)
        return 2
    if args.command == "sandbox":
        from .sandbox import serve

        print(f"UbiOps Services API sandbox on http://{settings.host}:{settings.port}/v2.1 "
              f"(any non-empty token; data in {settings.sandbox_db_path}; "
              f"Host allowed: {', '.join(settings.http_allowed_hosts)})", file=sys.stderr)  # fmt: skip
        serve(settings.host, settings.port, settings.sandbox_db_path, settings.sandbox_seed,
              allowed_hosts=settings.http_allowed_hosts, allowed_origins=settings.http_allowed_origins)  # fmt: skip
        return 0
    if args.command == "check":
        from .check import run_check

        return run_check(settings)
    gc.disable()  # importing the SDK builds ~130k objects that live as long as the process: collecting is waste
    try:
        from .hosting.serve import run
    finally:
        gc.freeze()  # keep them out of every later collection too (a full one would walk them all: ~65 ms)
        gc.enable()
    return run(settings)


if __name__ == "__main__":
    sys.exit(main())
