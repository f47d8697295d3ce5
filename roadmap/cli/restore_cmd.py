"""``roadmap restore STUDY [--force]``: put a damaged study back to its last good copy."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "restore",
        help="restore a damaged study (study.db, settings.json) from its resume point",
        description=(
            "A search keeps the last good copy of its study.db and settings.json in <study>/resume-point/ "
            "(written when a run starts and when it ends, from a database SQLite reads without error). "
            "restore puts back what is damaged: a study.db SQLite cannot read (with its settings.json), "
            "or a missing settings.json. The files it replaces are kept as <name>.damaged. A resumed "
            "search then trains again what was done after the copy."
        ),
        epilog="example: roadmap restore studies/runs/nafnet && roadmap search --study studies/runs/nafnet",
    )
    p.add_argument("study", metavar="STUDY", help="study directory (holds study.db and resume-point/)")
    p.add_argument(
        "--force",
        action="store_true",
        help="restore although study.db and settings.json are readable (the trials since the copy are lost)",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from roadmap.search.resume_point import restore

    print(restore(args.study, force=args.force) + "; the replaced files are kept as *.damaged")
    return 0
