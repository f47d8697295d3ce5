"""FMEN's structural re-parameterisation as a U-Net knob: ``reparam`` trains convs as RRRBs.

A conv marked ``reparam`` (``ConvSpec.reparam``) builds as FMEN's RRRB (``blocks.reparam``):
expand 1x1, k x k, reduce 1x1, inner and outer identities, with the bias-padding trick. It
trains in that multi-branch form and folds into one plain conv of its kind for deployment
(``roadmap.build.fold_spec`` / ``fold_model``); latency, memory and ONNX are the folded form's.
A vanilla conv becomes a dense RRRB; a depthwise conv a depthwise RRRB (each channel expands
into two channels of its own); a separable conv keeps its 1x1 and its depthwise part becomes a
depthwise RRRB. Partial convs (pconv, pdwconv) have no re-parameterised form.
"""

from __future__ import annotations

import dataclasses

from roadmap.spec import REPARAM_KINDS, UNetSpec
from roadmap.transforms.addresses import conv_slots, expand_addresses, stage_addresses
from roadmap.transforms.registry import param_error, register
from roadmap.transforms.weights import ConvSite, State, carries, conv_sites, default_carry, put


@register("reparam")
def reparam(spec: UNetSpec, targets: list[str] | None = None) -> UNetSpec:
    """Train the spatial convs of some stages as FMEN RRRBs (folded into one conv at deployment).

    ``targets``: addresses (``encoder[1]``, ``middle[0]``, ``level[2]``, and also ``down[i]``,
    ``up[i]``, ``skips[i]`` where they hold a configurable conv); default every stage whose conv is
    vanilla, depthwise or separable. Convs already re-parameterised are passed over; a target
    with a partial conv is refused (one line naming it), as is a step that changes nothing.
    """
    if targets is not None and (not isinstance(targets, list) or not targets):
        raise param_error("reparam", "targets", f"must be a non-empty list of addresses, got {targets!r}")
    addresses = expand_addresses(spec, targets, "reparam") if targets is not None else stage_addresses(spec)
    changed = 0
    for slot in conv_slots(spec, addresses):
        conv = slot.get()
        if conv.reparam:
            continue
        if conv.kind not in REPARAM_KINDS:
            if targets is None:
                continue  # the default passes over what has no re-parameterised form
            raise param_error(
                "reparam",
                "targets",
                f"{slot.address} has a {conv.kind} conv: only {', '.join(REPARAM_KINDS)} convs can be re-parameterised",
            )
        slot.set(dataclasses.replace(conv, reparam=True))
        changed += 1
    if not changed:
        where = ", ".join(targets) if targets is not None else "this network's stages"
        raise param_error(
            "reparam",
            "targets",
            f"no conv left to re-parameterise at {where} (needs a {', '.join(REPARAM_KINDS)} conv not yet reparam)",
        )
    return spec


@carries("reparam")
def carry_reparam(before: UNetSpec, after: UNetSpec, params: dict, state: State, fresh: State) -> State:
    """Exactly function-preserving: each new RRRB starts as the conv it replaces.

    Per group (one for a dense RRRB, one per channel for a depthwise one), with ``Cin``/``Cout``
    the group's channels, ``K = max(Cin, Cout)`` and ``M = 2K`` expanded channels:

    - expand: the identity on the first ``Cin`` of its ``M`` outputs, zero on outputs
      ``Cin..K-1``, fresh on the last ``M - K`` (bias 0 on the first ``K``, fresh after);
    - k x k: rows ``0..Cout-1`` hold the old kernel on the first ``Cin`` inputs minus the
      identities the block adds back (the inner one, and the outer one when ``Cin == Cout``:
      ``W - 2 delta`` on the diagonal's centre tap), zero on the other inputs; bias the old
      bias (0 for a separable conv's bias-free depthwise); rows ``Cout..M-1`` fresh;
    - reduce: ``[I_Cout | 0]`` (reads rows ``0..Cout-1`` only), bias 0.

    So the block computes ``W x + b`` at the start, borders included (the expand bias it pads
    with is 0 where it matters). The fresh rows are not dead: the reduce's zero columns get a
    gradient from them at the first step (one factor zero, as in LoRA). A separable conv's 1x1
    keeps its weights (same names); everything else keeps its weights (:func:`default_carry`).
    """
    out = default_carry(before, after, params, state, fresh)
    old_sites = {s.prefix: s for s in conv_sites(before)}
    for site in conv_sites(after):
        old = old_sites.get(site.prefix)
        if not site.conv.reparam or old is None or old.conv.reparam:
            continue
        weight, bias = _plain_kernel(old, state)
        prefix = f"{site.prefix}.0" if site.conv.kind == "separable" else site.prefix
        for key, value in rrrb_from_conv(weight, bias, fresh, prefix).items():
            put(out, key, value)
    return out


def _plain_kernel(site: ConvSite, state: State):
    """``(weight (Cout, Cin/g, k, k), bias or None)`` of a plain vanilla / depthwise conv, or
    of a separable conv's depthwise part (no bias)."""
    if site.conv.kind == "separable":
        return state[f"{site.prefix}.0.weight"], None
    return state[f"{site.prefix}.weight"], state.get(f"{site.prefix}.bias")


def rrrb_from_conv(weight, bias, fresh: State, prefix: str) -> State:
    """The RRRB tensors at ``prefix`` (``<prefix>.expand.weight``, ...) that compute the conv
    ``(weight, bias)`` exactly; shapes, and the parts left fresh, from ``fresh`` (see
    :func:`carry_reparam`). ``weight``: ``(Cout, Cin/g, k, k)``, ``bias``: ``(Cout,)`` or None."""
    import torch

    ew, fw, rw = (fresh[f"{prefix}.{m}.weight"] for m in ("expand", "fea", "reduce"))
    mg, k = fw.shape[1], fw.shape[-1]
    g, ig = fw.shape[0] // mg, ew.shape[1]
    og, wide, c = rw.shape[0] // g, max(ew.shape[1], rw.shape[0] // g), k // 2
    k0 = ew.reshape(g, mg, ig).clone()
    k0[:, :wide] = 0
    k0[:, torch.arange(ig), torch.arange(ig)] = 1
    k1 = fw.reshape(g, mg, mg, k, k).clone()
    k1[:, :og] = 0
    k1[:, :og, :ig] = weight.reshape(g, og, ig, k, k)
    n = torch.arange(min(ig, og))
    k1[:, n, n, c, c] -= 2 if ig == og else 1  # the inner identity, and the outer one when square
    k2 = torch.zeros(g, og, mg, dtype=rw.dtype, device=rw.device)
    k2[:, torch.arange(og), torch.arange(og)] = 1
    out = {
        f"{prefix}.expand.weight": k0.reshape(ew.shape),
        f"{prefix}.fea.weight": k1.reshape(fw.shape),
        f"{prefix}.reduce.weight": k2.reshape(rw.shape),
    }
    if f"{prefix}.fea.bias" in fresh:  # a bias-free RRRB stands for a bias-free conv
        b0 = fresh[f"{prefix}.expand.bias"].reshape(g, mg).clone()
        b0[:, :wide] = 0
        b1 = fresh[f"{prefix}.fea.bias"].reshape(g, mg).clone()
        b1[:, :og] = 0 if bias is None else bias.reshape(g, og)
        out[f"{prefix}.expand.bias"] = b0.reshape(-1)
        out[f"{prefix}.fea.bias"] = b1.reshape(-1)
        out[f"{prefix}.reduce.bias"] = torch.zeros_like(fresh[f"{prefix}.reduce.bias"])
    return out
