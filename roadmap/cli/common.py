"""Helpers shared by the CLI commands: the shared option definitions and output formatting.

One flag, one meaning, one definition: every command that takes an architecture, an input
size, a fidelity, a random seed, a device, a data folder or ``--json`` adds it here, so the
name, the type checks, the default and the help text agree across commands. Renamed flags stay
as hidden aliases that warn (``--input`` -> ``--input-size``); ``train --seed`` was removed
(``--seed`` is the architecture in ``roadmap search``), and using it says what to use instead.
"""

from __future__ import annotations

import argparse
import json
import math
import sys

from roadmap.evaluation.tasks import TASK_OPTIONS

MAX_INPUT_SIDE = 16384  # larger inputs are a typo: the analysis would record GB-sized tensors


# --------------------------------------------------------------------------- value types


def _int_at_least(text: str, minimum: int) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be an integer, got {text!r}") from None
    if value < minimum:
        raise argparse.ArgumentTypeError(f"must be >= {minimum}, got {value}")
    return value


def positive_int(text: str) -> int:
    """An argparse type: an integer >= 1."""
    return _int_at_least(text, 1)


def nonnegative_int(text: str) -> int:
    """An argparse type: an integer >= 0."""
    return _int_at_least(text, 0)


MAX_RANDOM_SEED = 2**31 - 1  # numpy's RandomState (Optuna's samplers) takes < 2**32; rungs add to it


def random_seed(text: str) -> int:
    """An argparse type: a random seed in [0, 2**31 - 1]."""
    value = nonnegative_int(text)
    if value > MAX_RANDOM_SEED:
        raise argparse.ArgumentTypeError(f"must be at most {MAX_RANDOM_SEED}, got {value}")
    return value


def int_in(minimum: int, maximum: int):
    """An argparse type: an integer in [minimum, maximum]."""

    def parse(text: str) -> int:
        value = _int_at_least(text, minimum)
        if value > maximum:
            raise argparse.ArgumentTypeError(f"must be at most {maximum}, got {value}")
        return value

    return parse


def positive_float(text: str) -> float:
    """An argparse type: a finite number > 0."""
    value = finite_float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {text}")
    return value


def nonnegative_float(text: str) -> float:
    """An argparse type: a finite number >= 0."""
    value = finite_float(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {text}")
    return value


def finite_float(text: str) -> float:
    """An argparse type: a finite number (``float()`` alone accepts nan and inf)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number, got {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"must be a finite number, got {text}")
    return value


def image_side(text: str) -> int:
    """An argparse type: one side of an input image, in [1, MAX_INPUT_SIDE]."""
    value = positive_int(text)
    if value > MAX_INPUT_SIDE:
        raise argparse.ArgumentTypeError(f"must be at most {MAX_INPUT_SIDE}, got {value}")
    return value


class DeprecatedAlias(argparse.Action):
    """A hidden old flag name: stores into the new option's ``dest`` and warns once on stderr."""

    def __init__(self, option_strings, dest, new_flag: str = "", **kwargs):
        self.new_flag = new_flag
        super().__init__(option_strings, dest, **kwargs)

    def __call__(self, parser, namespace, values, option_string=None):
        print(f"{parser.prog}: warning: {option_string} is deprecated; use {self.new_flag}", file=sys.stderr)
        setattr(namespace, self.dest, values)


# --------------------------------------------------------------------------- shared options


def add_spec_argument(parser, flag: str | None = None, default: str | None = None, help: str | None = None) -> None:
    """``SEED_OR_SPEC [--variant V]``: a seed name or a spec YAML file.

    ``flag=None``: the positional ``SEED_OR_SPEC`` (show, apply, eval, space, train);
    ``flag="--seed"``: an option (``roadmap search --seed``), stored in ``args.seed``."""
    text = help or "seed name (see `roadmap seeds`) or spec YAML file"
    if flag is None:
        parser.add_argument("spec", metavar="SEED_OR_SPEC", help=text)
    else:
        parser.add_argument(flag, metavar="SEED_OR_SPEC", default=default, help=text)
    parser.add_argument("--variant", default=None, help="seed variant (default: the seed's default, e.g. nafnet w16)")


def add_input_size_argument(parser, default: tuple[int, int] | None = (256, 256), help: str | None = None) -> None:
    """``--input-size H W`` (``args.input_size``); ``--input`` is a hidden, warning alias."""
    given = f" (default {default[0]} {default[1]})" if default else ""
    text = help or (
        f"image size H W of the static analysis{given}; a "
        f"super-resolution spec (head.upscale s) makes this output from an H/s x W/s input"
    )
    parser.add_argument(
        "--input-size",
        nargs=2,
        type=image_side,
        metavar=("H", "W"),
        default=list(default) if default else None,
        help=text,
    )
    parser.add_argument(
        "--input",
        nargs=2,
        type=image_side,
        dest="input_size",
        action=DeprecatedAlias,
        new_flag="--input-size",
        help=argparse.SUPPRESS,
    )


def network_input_size(spec, size) -> tuple[int, int]:
    """The network input of ``--input-size H W`` (the output size): ``(H / s, W / s)`` for a
    super-resolution spec; `SpecError` naming the flag when the scale does not divide it."""
    from roadmap.errors import SpecError
    from roadmap.spec import input_hw

    try:
        return input_hw(spec, tuple(size))
    except SpecError as exc:
        raise SpecError(f"--input-size {size[0]} {size[1]}: {exc}") from None


def add_fidelity_argument(parser, default: str | None = "default", help: str | None = None) -> None:
    """``--fidelity PRESET_OR_FILE``: a preset (`roadmap.evaluation.fidelity.PRESETS`) or a YAML/JSON
    file. A ``help`` given names the presets as ``{presets}``."""
    from roadmap.evaluation.fidelity import PRESETS

    text = (help or "proxy training: a preset ({presets}) or a YAML/JSON file of fidelity fields").format(
        presets=", ".join(PRESETS)
    )
    if help is None and default is not None:
        text += f" (default {default})"
    parser.add_argument("--fidelity", default=default, metavar="PRESET_OR_FILE", help=text)


def add_random_seed_argument(parser, default: int | None = 0, help: str | None = None) -> None:
    """``--random-seed N`` (``args.random_seed``)."""
    text = help or "seed of the random numbers: weights, crops and noise"
    if help is None and default is not None:
        text += f" (default {default})"
    parser.add_argument("--random-seed", type=random_seed, default=default, metavar="N", help=text)


def add_device_argument(parser, default: str | None = "cpu", help: str | None = None) -> None:
    """``--device cpu|cuda|cuda:N``."""
    text = help or "device to train and measure on: cpu, cuda or cuda:N"
    if help is None and default is not None:
        text += f" (default {default})"
    parser.add_argument("--device", default=default, help=text)


# One default for every command that computes (apply, eval, search, train): latency and memory
# are measured at a fixed thread count so that figures compare between commands and runs, the
# trials a search trains side by side do not fight over the cores, and a CPU training is
# deterministic. More threads train faster (`roadmap train --threads 8`); the figures then
# describe that setting.
DEFAULT_THREADS = 1
MAX_THREADS = 1024


def add_threads_argument(parser, what: str) -> None:
    """``--threads N`` (``args.threads``; ``None`` = not given: :data:`DEFAULT_THREADS`, or what
    a ``--fidelity`` file sets)."""
    parser.add_argument(
        "--threads",
        type=int_in(1, MAX_THREADS),
        default=None,
        metavar="N",
        help=f"CPU threads for {what} (default {DEFAULT_THREADS} in every command, so that "
        "latencies compare; a --fidelity file may set threads)",
    )


def threads_of(args) -> int:
    """The thread count ``--threads`` gives (:data:`DEFAULT_THREADS` when left out)."""
    return DEFAULT_THREADS if args.threads is None else args.threads


class RemovedFlag(argparse.Action):
    """A hidden flag that was removed: using it is a usage error saying what to use instead."""

    def __init__(self, option_strings, dest, instead: str = "", **kwargs):
        self.instead = instead
        super().__init__(option_strings, dest, nargs="?", help=argparse.SUPPRESS, **kwargs)

    def __call__(self, parser, namespace, values, option_string=None):
        parser.error(f"{option_string} was removed from this command: {self.instead}")


def add_data_argument(parser, help: str | None = None) -> None:
    """``--data DIR``: clean images, ``input/`` + ``target/`` pairs, or ``train/`` + ``val/``."""
    parser.add_argument(
        "--data",
        default=None,
        metavar="DIR",
        help=help
        or "folder of clean images, input/ + target/ pairs, or train/ + val/ "
        "(default: photographs shipped with scikit-image)",
    )


def number_or_range(text: str) -> str:
    """An argparse type: a finite number or a range ``A:B`` of them (its bounds are the task's
    to check, `roadmap.evaluation.tasks.Task`)."""
    parts = text.split(":")
    if len(parts) > 2:
        raise argparse.ArgumentTypeError(f"must be a number or a range A:B, got {text!r}")
    for part in parts:
        finite_float(part)  # 'must be a number' / 'must be a finite number', naming the text
    return text


def add_task_arguments(parser) -> None:
    """``--task denoise|deblur|sr|jpeg`` and the options of each task (``args.task`` ...): one
    definition for show, eval, search and train. Values are checked by `Task` (one line naming
    the option); ``None`` means not given."""
    g = parser.add_argument_group("task", "what the network restores (default: denoise at sigma 25)")
    g.add_argument(
        "--task", default=None, metavar="TASK", help="denoise, deblur, sr (super-resolution) or jpeg (artefact removal)"
    )
    g.add_argument(
        "--sigma",
        type=number_or_range,
        default=None,
        metavar="S|A:B",
        help="denoise: Gaussian noise std on 0-255, a value or a range drawn per crop (default 25)",
    )
    g.add_argument(
        "--blur",
        default=None,
        metavar="KIND",
        help="deblur: gaussian, motion (camera shake) or mixed (default gaussian: the blur a proxy "
        'training learns, README "Tasks")',
    )
    g.add_argument(
        "--blur-sigma",
        type=number_or_range,
        default=None,
        metavar="A:B",
        help="deblur: Gaussian kernel std in px (default 1:3)",
    )
    g.add_argument(
        "--motion-length",
        type=number_or_range,
        default=None,
        metavar="A:B",
        help="deblur: motion trajectory length in px (default 5:15)",
    )
    g.add_argument(
        "--blur-noise",
        type=number_or_range,
        default=None,
        metavar="A:B",
        help="deblur: noise std on 0-255 added after the blur (default 0:2)",
    )
    g.add_argument(
        "--scale",
        type=positive_int,
        default=None,
        metavar="S",
        help="sr: up-scaling factor 2, 3 or 4 (default 2); any seed gets an up-sampling head",
    )
    g.add_argument(
        "--quality",
        type=number_or_range,
        default=None,
        metavar="Q|A:B",
        help="jpeg: JPEG quality 1-100, a value or a range drawn per crop (default 20)",
    )


def task_options(args) -> dict:
    """The task options of ``args`` (``add_task_arguments``) as a dict, ``None`` = not given."""
    return {"task": getattr(args, "task", None), **{k: getattr(args, k, None) for k in TASK_OPTIONS}}


def spec_and_task(args):
    """``(spec, task)`` of a command's ``SEED_OR_SPEC [--variant]`` and task options: the task
    the options describe (denoise at sigma 25 when none is given; a super-resolution spec file
    alone is taken at its scale) and the spec made fit for it (`for_task`: an ``sr`` task gives
    a seed its up-sampling head)."""
    from roadmap.evaluation.tasks import for_task, task_of_spec
    from roadmap.seeds import resolve_spec

    spec = resolve_spec(args.spec, args.variant)
    options = task_options(args)
    task = task_of_spec(spec, options.pop("task"), **options)
    return for_task(spec, task), task


def add_json_argument(parser, help: str | None = None) -> None:
    """``--json``: machine-readable output on stdout."""
    parser.add_argument("--json", action="store_true", help=help or "print JSON")


# --------------------------------------------------------------------------- output


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

    def line(r: list[str]) -> str:
        return "  ".join(str(v).ljust(w) for v, w in zip(r, widths, strict=False)).rstrip()

    return "\n".join([line(header), line(["-" * w for w in widths]), *map(line, rows)])
