"""The attention of NAFBlocks: NAFNet's SCA, GAMA-IR's axis averages, or none, per stage."""

from __future__ import annotations

from roadmap.spec import ATTENTION_BLOCKS, ATTENTION_KINDS, BLOCK_TYPES, UNetSpec
from roadmap.transforms.addresses import expand_addresses, expand_overrides, stage_addresses, stage_of
from roadmap.transforms.registry import param_error, register
from roadmap.transforms.weights import State, carries, default_carry


def check_attention(value, param: str = "attention") -> str:
    """``value`` if it is an attention kind, else the one-line error naming ``attention.<param>``."""
    if value not in ATTENTION_KINDS:
        raise param_error("attention", param, f"must be one of {', '.join(ATTENTION_KINDS)}, got {value!r}")
    return value


def attention_stages(spec: UNetSpec) -> list[str]:
    """The addresses of every stage with blocks that have an attention (nafblock, gama)."""
    return [
        a for a in stage_addresses(spec) if stage_of(spec, a).block in ATTENTION_BLOCKS and stage_of(spec, a).depth > 0
    ]


@register("attention")
def swap_attention(
    spec: UNetSpec, attention: str = "gama", targets: list[str] | None = None, overrides: dict[str, str] | None = None
) -> UNetSpec:
    """Give the NAFBlocks of some stages another attention: ``sca`` (NAFNet's simplified channel
    attention), ``gama`` (GAMA-IR's axis averages, 147 parameters a block) or ``none``.

    ``attention`` applies to ``targets`` (addresses; default every ``nafblock`` / ``gama``
    stage; samplers, skips and stages of other blocks among them are passed over),
    ``overrides`` per address (``{"middle": "gama"}``). The spec records the kind in
    ``StageSpec.attention``, left ``None`` where it is the block type's own, so that swapping
    back gives the original spec.
    """
    kind = check_attention(attention)
    if overrides is not None and not isinstance(overrides, dict):
        raise param_error("attention", "overrides", f"must be a mapping address -> attention, got {overrides!r}")
    overrides = expand_overrides(spec, overrides or {}, "attention", check_attention)
    eligible = attention_stages(spec)
    addresses = expand_addresses(spec, targets, "attention") if targets is not None else eligible
    chosen = [a for a in addresses if a in eligible]
    if not chosen:
        where = f"at {', '.join(addresses)}" if targets is not None else "in this network"
        raise param_error("attention", "targets", f"no nafblock or gama stage {where}")
    changed = 0
    for address in chosen:
        stage = stage_of(spec, address)
        new = overrides.get(address, kind)
        before = stage.attention
        stage.attention = None if new == BLOCK_TYPES[stage.block]["attention"] else new
        changed += stage.attention != before
    if not changed:
        raise param_error("attention", "attention", f"changes nothing: {', '.join(chosen)} already use it")
    return spec


@carries("attention")
def carry_attention(before: UNetSpec, after: UNetSpec, params: dict, state: State, fresh: State) -> State:
    """Every weight whose name and shape match is kept; a new attention starts fresh.

    The attention sits inside the block (``<stage>.<k>.attention``) and SCA (``attention.conv``)
    and GAMA (``attention.conv_c/conv_h/conv_w``) share no parameter name, so only the swapped
    attention changes. Not function-preserving: SCA scales the gated map per channel, GAMA adds
    three axis-average terms to it, ``none`` passes it through; fine-tuning has to adapt the
    ``conv3`` that reads it.
    """
    return default_carry(before, after, params, state, fresh)
