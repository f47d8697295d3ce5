"""Helpers shared by the CLI commands: common arguments and output formatting."""
from __future__ import annotations

import argparse
import json
import sys


def add_spec_argument(parser: argparse.ArgumentParser) -> None:
    """``SEED_OR_SPEC [--variant V]``: a seed name or a spec YAML file."""
    parser.add_argument("spec", metavar="SEED_OR_SPEC", help="seed name (see `roadmap seeds`) or spec YAML file")
    parser.add_argument("--variant", default=None, help="seed variant (default: the seed's default)")


def add_input_argument(parser: argparse.ArgumentParser, default: tuple[int, int] = (256, 256)) -> None:
    parser.add_argument("--input", nargs=2, type=int, metavar=("H", "W"), default=list(default),
                        help=f"input size for the analysis (default {default[0]} {default[1]})")


def print_json(data) -> None:
    json.dump(data, sys.stdout, indent=2, default=str)
    sys.stdout.write("\n")


def human(n: float, unit: str = "") -> str:
    """1234567 -> '1.23M'."""
    for factor, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "K")):
        if abs(n) >= factor:
            return f"{n / factor:.3g}{suffix}{unit}"
    return f"{n:.4g}{unit}"


def mib(n_bytes: float) -> str:
    return f"{n_bytes / 2**20:.2f} MiB"


def table(rows: list[list[str]], header: list[str]) -> str:
    """A plain left-aligned text table."""
    widths = [max(len(str(r[c])) for r in [header, *rows]) for c in range(len(header))]
    line = lambda r: "  ".join(str(v).ljust(w) for v, w in zip(r, widths)).rstrip()
    return "\n".join([line(header), line(["-" * w for w in widths]), *map(line, rows)])
