"""`roadmap show`: the static cost of a seed or spec (params, MACs, skip and peak memory)."""

from __future__ import annotations

from roadmap.analysis import Analysis, analyze
from roadmap.cli.common import (
    add_input_size_argument,
    add_json_argument,
    add_spec_argument,
    add_task_arguments,
    human,
    mib,
    network_input_size,
    print_json,
    spec_and_task,
    table,
)


def format_analysis(name: str, a: Analysis, channels: int = 3) -> str:
    h, w = a.input_hw
    form = "; training form, RRRBs unfolded" if a.deployed else ""
    lines = [
        f"{name} at 1x{channels}x{h}x{w}",
        *_upscale_lines(a),
        f"  params            {a.params:,} ({a.params_conv_only:,} in conv layers, as thop counts{form})",
        *_deployed_lines(a),
        f"  MACs              {human(a.macs)} ({a.macs:,})",
        f"  skip memory peak  {a.skip_memory_elements_peak:,} elements "
        f"({a.skip_memory_elements_peak / (h * w):.3g}*H*W; {mib(a.skip_memory_elements_peak)} at 8 bit)",
        f"  peak activations  {a.peak_activation_elements:,} elements ({mib(a.peak_activation_bytes)} float32; "
        f"{mib(a.peak_memory_cpu_bytes)} with PyTorch CPU conv workspaces)",
        "",
    ]
    shares = a.stage_shares
    rows = [[k, human(v), f"{shares[k] * 100:5.1f}%", "#" * round(shares[k] * 50)] for k, v in a.stages.items()]
    lines.append(table(rows, ["stage", "MACs", "share", ""]))
    lines.append("")
    lines.append("skip memory over time (elements): " + ", ".join(f"{k} {v:,}" for k, v in a.skip_memory_timeline))
    lines.extend(f"note: {n}" for n in a.notes)
    return "\n".join(lines)


def _upscale_lines(a: Analysis) -> list[str]:
    """For a super-resolution spec: the low-resolution input the figures are counted at."""
    if a.output_hw == a.input_hw:
        return []
    (h, w), (oh, ow) = a.input_hw, a.output_hw
    return [f"  input {h}x{w} (LR) -> output {oh}x{ow} (x{oh // h})"]


def _deployed_lines(a: Analysis) -> list[str]:
    """The deployed (RRRBs folded) form's figures, for a spec with re-parameterised convs."""
    if not a.deployed:
        return []
    d = a.deployed
    return [
        f"  deployed params   {d['params']:,} (RRRBs folded into single convs: {human(d['macs'])} MACs, "
        f"peak activations {mib(d['peak_activation_bytes'])})"
    ]


def run(args) -> int:
    spec, _ = spec_and_task(args)  # --task sr: the seed's up-sampling head
    network_input_size(spec, args.input_size)  # an SR scale that does not divide it: name the flag
    a = analyze(spec, tuple(args.input_size))
    if args.json:
        out = {"name": spec.name, **a.to_dict(layers=args.layers)}
        print_json(out)
    else:
        print(format_analysis(spec.name, a, spec.in_channels))
    return 0


def register(sub) -> None:
    p = sub.add_parser("show", help="static cost of a seed or spec: params, MACs, memory")
    add_spec_argument(p)
    add_input_size_argument(p)
    add_task_arguments(p)
    add_json_argument(p)
    p.add_argument("--layers", action="store_true", help="with --json: include MACs per layer")
    p.set_defaults(func=run)
