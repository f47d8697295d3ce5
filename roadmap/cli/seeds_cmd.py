"""`roadmap seeds`: list the seed architectures and their variants."""

from __future__ import annotations

from roadmap.cli.common import add_json_argument, print_json
from roadmap.seeds import default_variant, list_seeds


def run(args) -> int:
    seeds = list_seeds()
    if args.json:
        print_json({name: {"variants": v, "default": default_variant(name)} for name, v in seeds.items()})
        return 0
    for name, variants in seeds.items():
        default = default_variant(name)
        shown = [f"{v} (default)" if v == default else v for v in variants]
        print(f"{name:8s} {', '.join(shown)}")
    return 0


def register(sub) -> None:
    p = sub.add_parser("seeds", help="list seed architectures and their variants")
    add_json_argument(p)
    p.set_defaults(func=run)
