"""MOFA's capacity and speed steps on partial convolutions: pconv, more_params, pdwconv."""

from __future__ import annotations

from roadmap.spec import ConvSpec, UNetSpec, partial_channels
from roadmap.transforms.addresses import conv_slots, expand_addresses, expand_overrides
from roadmap.transforms.registry import param_error, register
from roadmap.transforms.weights import State, carries, carry_changed_convs

REPLACEABLE = ("vanilla", "depthwise", "separable")


def check_portion(transform: str, value, param: str = "portion") -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value <= 1:
        raise param_error(transform, param, f"must be in (0, 1], got {value!r}")
    return float(value)


def _fits(slot, portion: float) -> bool:
    return all(partial_channels(ci, portion) >= 1 for ci, _ in slot.channels)


@register("pconv")
def pconv(
    spec: UNetSpec, portion: float = 0.25, targets: list[str] | None = None, overrides: dict[str, float] | None = None
) -> UNetSpec:
    """Replace the stride-1 spatial convs (vanilla, depthwise, separable) with PConv (MOFA 3.2).

    ``portion`` applies everywhere, ``overrides`` per address (``{"encoder[2]": 0.5}``);
    ``targets`` restricts the change to some addresses. The stem, the head and strided convs
    are never touched. A separable conv keeps its pointwise 1x1 (without bias, as in MOFA).
    """
    portion = check_portion("pconv", portion)
    if overrides is not None and not isinstance(overrides, dict):
        raise param_error("pconv", "overrides", f"must be a mapping address -> portion, got {overrides!r}")
    overrides = expand_overrides(spec, overrides or {}, "pconv", lambda v, where: check_portion("pconv", v, where))
    addresses = expand_addresses(spec, targets, "pconv") if targets is not None else None
    changed = 0
    for slot in conv_slots(spec, addresses):
        conv = slot.get()
        if conv.kind not in REPLACEABLE and not conv.is_partial:
            continue
        p = overrides.get(slot.address, portion)
        if not _fits(slot, p):
            raise param_error(
                "pconv",
                "portion",
                f"{p} of {min(c for c, _ in slot.channels)} channels at {slot.address} is less than one channel",
            )
        pointwise = conv.pointwise or conv.kind == "separable" or any(ci != co for ci, co in slot.channels)
        if conv.is_partial:
            slot.set(ConvSpec(conv.kind, conv.kernel, p, conv.dw_threshold, conv.pointwise, conv.bias))
        else:
            slot.set(ConvSpec("pconv", conv.kernel, p, None, pointwise, False))
        changed += 1
    if not changed:
        raise param_error("pconv", "targets", f"no replaceable conv at {targets}")
    return spec


@carries("pconv")
def carry_pconv(before: UNetSpec, after: UNetSpec, params: dict, state: State, fresh: State) -> State:
    """A PConv on the first ``d = partial_channels(C, p)`` channels takes the slice of the conv it
    replaces; the rest of the network keeps its weights.

    - vanilla ``C -> C`` k x k conv ``W (C, C, k, k)``: the PConv's ``d -> d`` conv gets
      ``W[:d, :d]`` -- the part of the old conv that maps the convolved channels to themselves.
      The contributions of the pass-through channels to the first ``d`` outputs and the filtering
      of channels ``d..C-1`` (now an identity) are lost.
    - depthwise conv (NAFBlock's conv2, 2C channels): the dense conv it equals is diagonal, so the
      PConv's ``(d, d, k, k)`` weight is the diagonal embedding of the first ``d`` depthwise
      filters (zero off the diagonal): exact on those channels; the pass-through channels become
      an identity, which loses the depthwise filter there.
    - separable conv (depthwise then 1x1): the PConv gets the diagonal embedding of the first
      ``d`` depthwise filters and the 1x1 is kept unchanged as the PConv's pointwise.
    - vanilla ``C_in -> C_out`` (a width-changing conv, which gets a pointwise): the PConv is an
      identity (delta kernel) and the pointwise the sum of the kernel's taps ``(C_out, C_in)``,
      which keeps the response to locally constant inputs.
    - an existing PConv whose portion an ``overrides`` entry changes: as :func:`carry_more_params`
      when the portion grows, the top-left ``d' x d'`` block when it shrinks.

    Biases: PConvs have none, and pconv makes the pointwise that follows a separable conv
    bias-free too (as MOFA). Where the old conv's bias is added before a non-linearity (NAFBlock's
    SimpleGate, the ReLU of conv_relu and PMRID blocks) it is dropped; in a PMRID encoder block with
    a proj branch (the stride-2 ``pmrid_block`` down-samplers) ``conv2``'s bias is added to the
    proj's pointwise bias, which is exact because both are summed before the ReLU.
    """
    return carry_changed_convs(before, after, state, fresh)


@register("more_params")
def more_params(
    spec: UNetSpec,
    portion: float = 0.5,
    targets: list[str] | None = None,
    rule: str | None = None,
    threshold: float = 0.1,
) -> UNetSpec:
    """Raise the PConv portion on some stages to add capacity (MOFA 3.3 and 3.4).

    The stages are ``targets`` (addresses; ``level[i]`` = encoder, decoder and skip of level i) or
    chosen by ``rule``: ``middle`` = the level just above the bottleneck, the pair MOFA's code
    widens in NAFNet and PMRID (encoder 3 / decoder 2 in the paper's PMRID numbering); ``cheap``
    = the stages whose share of the MACs (at 256x256) is below ``threshold`` (MOFA Fig. 4).
    """
    portion = check_portion("more_params", portion)
    if (targets is None) == (rule is None):
        raise param_error("more_params", "targets", "give either targets or rule (middle or cheap), not both")
    if rule is not None:
        if rule not in ("middle", "cheap"):
            raise param_error("more_params", "rule", f"must be middle or cheap, got {rule!r}")
        if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or not 0 < threshold < 1:
            raise param_error("more_params", "threshold", f"must be in (0, 1), got {threshold!r}")
        chosen = _rule_targets(spec, rule, threshold)
    else:
        assert targets is not None  # checked above: exactly one of targets and rule
        chosen = targets
    addresses = expand_addresses(spec, chosen, "more_params")
    slots = [s for s in conv_slots(spec, addresses) if s.get().is_partial]
    if not slots:
        raise param_error("more_params", "targets", f"no PConv at {', '.join(addresses)}: apply pconv first")
    raised = 0
    for slot in slots:
        conv = slot.get()
        assert conv.portion is not None  # a partial conv: validate() requires its portion
        if portion > conv.portion:
            slot.set(ConvSpec(conv.kind, conv.kernel, portion, conv.dw_threshold, conv.pointwise, conv.bias))
            raised += 1
    if not raised:
        raise param_error(
            "more_params", "portion", f"{portion} does not raise any portion at {', '.join(s.address for s in slots)}"
        )
    return spec


@carries("more_params")
def carry_more_params(before: UNetSpec, after: UNetSpec, params: dict, state: State, fresh: State) -> State:
    """Raising a PConv's portion ``p -> p'`` (``d -> d'`` convolved channels) is exactly
    function-preserving: the new ``(d', d', k, k)`` conv gets the old ``d x d`` weights in its
    top-left block and a centred delta kernel on the diagonal for channels ``d..d'-1`` (the
    channels the old PConv passed through), zeros elsewhere; the pointwise, if any, is unchanged.
    For a depthwise layer (PDWConv) the new filters of channels ``d..d'-1`` are deltas, also
    exact. The one approximation: a layer that was dense and becomes depthwise because ``d'``
    reaches its ``dw_threshold`` keeps the diagonal (as :func:`carry_pdwconv`).
    """
    return carry_changed_convs(before, after, state, fresh)


def _rule_targets(spec: UNetSpec, rule: str, threshold: float) -> list[str]:
    if rule == "middle":
        level = spec.levels - 1
        return [f"encoder[{level}]", f"decoder[{level}]", f"skips[{level}]"]
    from roadmap.analysis import count_macs, mac_shares, meta_model  # local: only this rule needs MACs

    # A 256x256 network input (a super-resolution spec's LR input: its output is larger). The
    # shares do not depend on the size, as long as it is a multiple of 2**levels, nor on the scale.
    _, stages, _ = count_macs(meta_model(spec), (1, spec.in_channels, 256, 256))
    shares = mac_shares(stages)
    cheap = [
        a
        for a, share in shares.items()
        if share < threshold and a.split("[")[0] in ("encoder", "middle", "decoder", "skips")
    ]
    if not cheap:
        raise param_error("more_params", "threshold", f"no stage has less than {threshold:.0%} of the MACs")
    return cheap


@register("pdwconv")
def pdwconv(spec: UNetSpec, threshold: int = 16) -> UNetSpec:
    """PConv -> PDWConv wherever the convolved channels ``floor(C_in * portion)`` reach ``threshold``.

    MOFA 3.6 (16 for NAFNet, 32 for PMRID). The decision is taken per layer when the network is
    built (``dw_threshold``), exactly as MOFA's ``Partial_conv3`` does; ``threshold: 0`` makes
    every partial conv depthwise.
    """
    if isinstance(threshold, bool) or not isinstance(threshold, int) or threshold < 0:
        raise param_error("pdwconv", "threshold", f"must be an integer >= 0 (channels), got {threshold!r}")
    slots = [s for s in conv_slots(spec) if s.get().kind == "pconv"]
    if not slots:
        raise param_error("pdwconv", "threshold", "the network has no PConv: apply pconv first")
    for slot in slots:
        conv = slot.get()
        slot.set(ConvSpec("pconv", conv.kernel, conv.portion, threshold, conv.pointwise, conv.bias))
    return spec


@carries("pdwconv")
def carry_pdwconv(before: UNetSpec, after: UNetSpec, params: dict, state: State, fresh: State) -> State:
    """A PConv that becomes depthwise (``d >= threshold``) keeps the diagonal of its dense
    ``(d, d, k, k)`` conv as its ``(d, 1, k, k)`` depthwise weight: the part that maps each channel
    to itself; the cross-channel terms are lost (an approximation, exact only where they were
    zero, e.g. right after a pconv of a depthwise conv). Layers below the threshold stay dense and
    keep their weights; the pointwise is unchanged.
    """
    return carry_changed_convs(before, after, state, fresh)
