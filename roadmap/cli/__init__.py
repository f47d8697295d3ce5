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
]


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # usage errors: one line, exit 2
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
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        code = args.func(args)
    except RoadmapError as exc:
        if os.environ.get("ROADMAP_DEBUG"):
            raise
        # one line whatever the message quotes (a file name or value with a newline in it)
        print(one_line(f"roadmap {args.command}: error: {exc}", 1000), file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"roadmap {args.command}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # `roadmap ... | head`: the reader left; silence the flush at exit (Python docs' recipe).
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 1
    return int(code or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
