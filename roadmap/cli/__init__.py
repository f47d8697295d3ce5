"""`roadmap` command line: one sub-command per module in this package.

Each command module exposes ``register(subparsers)``, which adds its parser and
sets ``func`` (a callable taking the parsed ``argparse.Namespace`` and returning
an exit code). Known errors (:class:`roadmap.errors.RoadmapError`) become one
line on stderr and exit code 2; set ``ROADMAP_DEBUG=1`` for the traceback.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from typing import NoReturn

from roadmap.errors import RoadmapError
from roadmap.io import one_line

# Order is the order of `roadmap --help`.
COMMAND_MODULES = [
    "seeds",
    "show",
    "apply",
    "eval",
    "space",
    "search",
    "pareto",
    "plot",
    "export",
    "train",
    "restore",
]


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # usage errors: one line, exit 2
        self.exit(2, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    from roadmap import __version__

    parser = _Parser(
        prog="roadmap",
        description="Search simplification roadmaps (MOFA, UNet--) of image-restoration U-Nets.",
    )
    parser.add_argument("--version", action="version", version=f"roadmap {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(f"roadmap.cli.{name}_cmd")
        except ModuleNotFoundError as exc:
            if exc.name == f"roadmap.cli.{name}_cmd":
                continue  # command not built yet
            raise
        module.register(sub)
    parser.set_defaults(_commands=sub.choices)
    return parser


def parse_args(parser: argparse.ArgumentParser, argv: list[str] | None) -> argparse.Namespace:
    """``parser.parse_args``, except that an unknown flag is the sub-command's usage error
    (``roadmap eval: error: unrecognized arguments: --bogus``), as every other one is."""
    args, extra = parser.parse_known_args(argv)
    if extra:
        args._commands[args.command].error(f"unrecognized arguments: {' '.join(extra)}")
    return args


def _error(command: str, message: str) -> int:
    """One line on stderr whatever the message quotes (a file name or value with a newline in
    it), exit code 2."""
    print(one_line(f"roadmap {command}: error: {message}", 1000), file=sys.stderr)
    return 2


def main(argv: list[str] | None = None) -> int:
    from roadmap.files import fault_line

    args = parse_args(build_parser(), argv)
    try:
        code = args.func(args)
    except RoadmapError as exc:
        if os.environ.get("ROADMAP_DEBUG"):
            raise
        return _error(args.command, str(exc))
    except KeyboardInterrupt:
        print(f"roadmap {args.command}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # `roadmap ... | head`: the reader left; silence the flush at exit (Python docs' recipe).
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 1
    except Exception as exc:  # only the operating system's failures are caught
        # A write no helper of roadmap.files wrapped (a lock file, SQLite's study.db, a
        # library's own file): still one line naming the path and the reason.
        line = fault_line(exc)
        if line is None or os.environ.get("ROADMAP_DEBUG"):
            raise
        return _error(args.command, line)
    return int(code or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
