"""One meaning per flag: shared option definitions, renamed flags as warning aliases,
``roadmap --version``, and the README's command table against every command's ``--help``."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from roadmap.cli import COMMAND_MODULES, build_parser, main

REPO = Path(__file__).resolve().parents[2]


def subparsers() -> dict:
    parser = build_parser()
    action = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction")
    return dict(action.choices)


def visible_flags(parser) -> set[str]:
    """The option strings ``--help`` shows (hidden, deprecated aliases left out)."""
    return {s for a in parser._actions if a.help != "==SUPPRESS==" for s in a.option_strings}


def readme_commands() -> dict[str, str]:
    """``{command: the synopsis in the README's command table}``."""
    lines = (REPO / "README.md").read_text().splitlines()
    start = lines.index("| command | what it does |")
    rows = {}
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        synopsis = line.split("`")[1]
        rows[synopsis.split()[1]] = synopsis
    return rows


def test_the_readme_lists_every_command():
    assert set(readme_commands()) == set(subparsers()) == set(COMMAND_MODULES)


@pytest.mark.parametrize("command", COMMAND_MODULES)
def test_every_flag_the_readme_shows_is_in_the_commands_help(command):
    synopsis = readme_commands().get(command, "")
    parser = subparsers()[command]
    help_text = parser.format_help()
    for flag in re.findall(r"(?<![\w-])--[a-z][a-z0-9-]*", synopsis):
        assert flag in visible_flags(parser) and flag in help_text, f"{command}: {flag} ({synopsis})"
    usage = help_text.split("\n\n")[0]
    for word in synopsis.split()[2:]:  # the positional arguments, before the first option
        if word.startswith(("-", "[")):
            break
        assert re.search(rf"(?<![\w-]){re.escape(word)}(?![\w-])", usage), f"{command}: {word} is not in its usage"


SHARED = {  # flag -> the commands that take it: one definition (roadmap/cli/common.py) each
    "--variant": ("show", "apply", "eval", "space", "search", "train"),
    "--input-size": ("show", "apply", "plot", "export"),
    "--fidelity": ("eval", "search"),
    "--random-seed": ("eval", "search", "train"),
    "--device": ("eval", "search", "train"),
    "--data": ("eval", "search", "train"),
    "--json": ("seeds", "show", "apply", "eval", "search", "pareto"),
    "--threads": ("apply", "eval", "search", "train"),  # every command that trains or times
}


@pytest.mark.parametrize("flag", sorted(SHARED))
def test_shared_flags_are_on_every_command_that_needs_them(flag):
    having = sorted(name for name, p in subparsers().items() if flag in visible_flags(p))
    assert having == sorted(SHARED[flag])


def test_the_old_flag_names_are_gone_from_help():
    for name, parser in subparsers().items():
        assert "--input" not in visible_flags(parser), name  # hidden: --input-size is the name
    assert "--seed" not in visible_flags(subparsers()["train"])  # train: --random-seed


def test_version(capsys):
    import roadmap

    with pytest.raises(SystemExit) as info:
        main(["--version"])
    assert info.value.code == 0 and capsys.readouterr().out == f"roadmap {roadmap.__version__}\n"


def test_input_is_a_deprecated_alias_of_input_size(capsys):
    assert main(["show", "unet", "--input", "64", "48", "--json"]) == 0
    out, err = capsys.readouterr()
    assert json.loads(out)["input_hw"] == [64, 48]
    assert err == "roadmap show: warning: --input is deprecated; use --input-size\n"
    assert main(["show", "unet", "--input-size", "64", "48"]) == 0
    out, err = capsys.readouterr()
    assert "unet/w16 at 1x3x64x48" in out and err == ""


def test_train_seed_is_removed_and_says_what_to_use(capsys):
    """``--seed`` is the architecture in ``roadmap search``; in ``train`` it was the random seed."""
    parser = subparsers()["train"]
    assert parser.parse_args(["nafnet", "--random-seed", "7"]).random_seed == 7
    with pytest.raises(SystemExit) as info:
        main(["train", "nafnet", "--seed", "5"])
    assert info.value.code == 2
    assert capsys.readouterr().err.splitlines()[-1] == (
        "roadmap train: error: --seed was removed from this command: the architecture is SEED_OR_SPEC (--seed is "
        "the architecture in `roadmap search`), the random seed is --random-seed"
    )


def test_threads_has_one_default_everywhere():
    from roadmap.cli.common import DEFAULT_THREADS

    for name in SHARED["--threads"]:
        action = next(a for a in subparsers()[name]._actions if "--threads" in a.option_strings)
        assert action.default is None and f"(default {DEFAULT_THREADS} in every command" in action.help, name
    assert DEFAULT_THREADS == 1


def test_an_unknown_flag_is_the_sub_commands_error(capsys):
    with pytest.raises(SystemExit) as info:
        main(["eval", "nafnet", "--bogus", "3"])
    assert (info.value.code, capsys.readouterr().err.splitlines()[-1]) == (
        2,
        "roadmap eval: error: unrecognized arguments: --bogus 3",
    )


@pytest.mark.parametrize(
    "argv,message",
    [
        (["show", "nafnet", "--input-size", "0", "64"], "argument --input-size: must be >= 1, got 0"),
        (["show", "nafnet", "--input-size", "64", "100000"], "argument --input-size: must be at most 16384"),
        (["eval", "nafnet", "--random-seed", "-1"], "argument --random-seed: must be >= 0, got -1"),
        (["eval", "nafnet", "--random-seed", str(2**40)], "argument --random-seed: must be at most 2147483647"),
        (["eval", "nafnet", "--sigma", "nan"], "argument --sigma: must be a finite number, got nan"),
        (["apply", "nafnet", "--roadmap", "mofa", "--repeats", "0"], "argument --repeats: must be >= 1, got 0"),
        (["export", "x", "--out", "y.yaml", "--max-latency-ms", "inf"], "argument --max-latency-ms: must be a finite"),
        (["search", "--budget", "1000000000"], "argument --budget: must be at most 10000, got 1000000000"),
        (["search", "--budget", "0"], "argument --budget: must be >= 1, got 0"),
        (["search", "--cpus-per-trial", "0"], "argument --cpus-per-trial: must be > 0, got 0"),
        (["search", "--cpus-per-trial", "nan"], "argument --cpus-per-trial: must be a finite number, got nan"),
        (["search", "--gpus-per-trial", "-1"], "argument --gpus-per-trial: must be >= 0, got -1"),
        (["train", "nafnet", "--threads", "0"], "argument --threads: must be >= 1, got 0"),
    ],
)
def test_bad_option_values_are_one_line(argv, message, capsys):
    with pytest.raises(SystemExit) as info:
        main(argv)
    err = capsys.readouterr().err
    assert info.value.code == 2 and err.count("\n") == 1 and message in err, err
