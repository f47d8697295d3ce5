"""Weight inheritance: carry a trained seed's state dict through a list of transform steps.

A search trains the seed once and starts every candidate (seed + ``provenance["steps"]``) from
the seed's weights carried through its steps, then fine-tunes. Each transform declares how
weights cross it with :func:`carries`, next to its spec rewrite::

    @carries("pconv")
    def carry_pconv(before, after, params, state, fresh) -> dict[str, Tensor]: ...

``before`` / ``after`` are the specs around the step, ``params`` the step's parameters,
``state`` the state dict of ``build_model(before)`` and ``fresh`` a freshly initialised state
dict of ``build_model(after)``; the rule returns a complete state dict for ``after``. Most rules
start from :func:`default_carry` (copy every tensor whose name and shape match) and then fix the
parameters whose meaning changed. A transform without a rule uses :func:`default_carry`.

The conv rules share one representation (:class:`ConvParts`): a conv as a square spatial
kernel over all its input channels, then a pointwise matrix and a bias. Reading a conv into it
(:func:`read_conv`) and writing it into a partial conv (:func:`write_conv`) is what pconv,
more_params, pdwconv and decouple have in common; the docstrings of the rules say which are
exact and which approximate.

torch is imported inside the functions that need it: the transform modules register their
rules here and stay importable without torch.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from roadmap.registry import Registry
from roadmap.spec import (
    BLOCK_TYPES,
    ConvSpec,
    UNetSpec,
    block_conv_channels,
    nested_nodes,
    partial_channels,
    sampler_conv,
    stage_conv,
)
from roadmap.transforms.registry import apply_steps

if TYPE_CHECKING:
    from torch import Tensor

State = dict[str, "Tensor"]
CarryRule = Callable[[UNetSpec, UNetSpec, dict, State, State], State]
CARRY_RULES: Registry[CarryRule] = Registry("carry rule")

# The configurable spatial convs of each block type, in the order of spec.block_conv_channels.
_BLOCK_CONVS = {
    "nafblock": ("conv2",),
    "gama": ("conv2",),
    "pmrid_encoder": ("conv1", "conv2"),
    "pmrid_decoder": ("conv1", "conv2"),
    "conv_relu": ("conv",),
}
assert set(_BLOCK_CONVS) == set(BLOCK_TYPES)


# --------------------------------------------------------------------------- registry and driver


def carries(name: str) -> Callable[[CarryRule], CarryRule]:
    """Decorator: register ``fn(before, after, params, state, fresh) -> state`` for transform ``name``."""
    return CARRY_RULES.register(name)


def carry_weights(seed_spec: UNetSpec, seed_state: State, steps: list[dict], init_seed: int = 0) -> State:
    """Replay ``steps`` on ``seed_spec`` and carry ``seed_state`` through each of them.

    ``seed_state`` is the state dict of ``build_model(seed_spec)``; each step is
    ``{"transform": name, "params": {...}}`` as in ``provenance["steps"]``. Returns a complete
    state dict for ``build_model(final_spec)`` (strict ``load_state_dict`` succeeds), on the
    device of ``seed_state``. A parameter with no counterpart keeps the initialisation that
    ``build_model(spec)`` gives after ``torch.manual_seed(init_seed)``, ``spec`` being the network
    of the step that introduced it (the caller's RNG is left alone). Tensors may be shared with
    ``seed_state``; none is modified in place. Raises ``SpecError`` for an invalid step and
    ``ValueError`` when ``seed_state`` does not fit ``seed_spec``.
    """
    import torch

    from roadmap.build import build_model

    spec, state = seed_spec, dict(seed_state)
    with torch.no_grad():
        with torch.device("meta"):  # shapes only: no initialisation cost
            _check_state(state, build_model(spec).state_dict(), "seed_state")
        for step in steps:
            after = apply_steps(spec, [step])  # validates the step as apply_steps does
            fresh = fresh_state(after, init_seed, state)
            rule = CARRY_RULES.get(step["transform"], default_carry)
            state = rule(spec, after, dict(step.get("params") or {}), state, fresh)
            _check_state(state, fresh, f"carry rule of {step['transform']}")
            spec = after
    return state


def fresh_state(spec: UNetSpec, init_seed: int, like: State | None = None) -> State:
    """The state dict of ``build_model(spec)`` after ``torch.manual_seed(init_seed)``, moved to
    the device (and floating dtype) of ``like``'s tensors."""
    import torch

    from roadmap.build import build_model

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(init_seed)
        state = build_model(spec).state_dict()
    ref = next((t for t in (like or {}).values() if t.is_floating_point()), None)
    if ref is None:
        return state
    return {k: v.to(device=ref.device, dtype=ref.dtype if v.is_floating_point() else v.dtype) for k, v in state.items()}


def _check_state(state: State, expected: State, who: str) -> None:
    """Raise ``ValueError`` unless ``state`` has exactly ``expected``'s names and shapes."""
    missing, extra = sorted(set(expected) - set(state)), sorted(set(state) - set(expected))
    if missing or extra:
        raise ValueError(
            f"{who}: state dict does not match the network (missing {missing[:3]}, unexpected {extra[:3]})"
        )
    for key, value in expected.items():
        if state[key].shape != value.shape:
            raise ValueError(
                f"{who}: {key} has shape {tuple(state[key].shape)}, the network expects {tuple(value.shape)}"
            )


# --------------------------------------------------------------------------- generic rules


def default_carry(before: UNetSpec, after: UNetSpec, params: dict, state: State, fresh: State) -> State:
    """Every parameter of ``after`` whose name and shape exist in ``state`` keeps its value; the
    others keep their fresh initialisation. Module names follow spec addresses, so this is the
    identity on every part a transform does not touch."""
    out = dict(fresh)
    for key, value in fresh.items():
        old = state.get(key)
        if old is not None and old.shape == value.shape:
            out[key] = old
    return out


def reset_prefix(out: State, fresh: State, prefix: str) -> None:
    """Put the fresh initialisation back on every parameter under module ``prefix`` (``"msiam."``):
    for parts whose meaning changed although names and shapes may still match."""
    for key in out:
        if key.startswith(prefix):
            out[key] = fresh[key]


def copy_prefix(state: State, out: State, src: str, dst: str) -> None:
    """``out[dst + rest] = state[src + rest]`` for every parameter under ``dst`` whose source
    exists with the same shape (moves a module's weights to a new name)."""
    for key in out:
        if key.startswith(dst):
            old = state.get(src + key[len(dst) :])
            if old is not None and old.shape == out[key].shape:
                out[key] = old


def put(out: State, key: str, value: Tensor) -> None:
    """``out[key] = value`` for an existing parameter of the same shape (catches naming bugs)."""
    import torch

    if key not in out or out[key].shape != value.shape:
        have = tuple(out[key].shape) if key in out else "no such parameter"
        raise KeyError(f"cannot write {key} {tuple(value.shape)}: the network has {have}")
    out[key] = value.clone(memory_format=torch.contiguous_format)  # no view keeps a big tensor alive


# --------------------------------------------------------------------------- conv sites


@dataclass(frozen=True)
class ConvSite:
    """One configurable spatial conv of a built network.

    ``prefix`` is its module path in :class:`roadmap.build.UNet` (``encoder.2.0.conv2``), it maps
    ``in_ch -> out_ch`` channels as ``conv`` says. ``fold_bias`` names a bias added to its output
    before any non-linearity (PMRID's ``proj`` branch), where a dropped bias can go exactly.
    """

    prefix: str
    in_ch: int
    out_ch: int
    conv: ConvSpec
    fold_bias: str | None = None

    @property
    def d(self) -> int:
        """Channels a partial conv convolves (as ``blocks.conv.partial_channels``)."""
        portion = self.conv.portion
        assert portion is not None, f"{self.prefix}: only a partial conv convolves part of its channels"
        return max(1, partial_channels(self.in_ch, portion))

    @property
    def depthwise(self) -> bool:
        """Whether a partial conv is depthwise, decided per layer as ``create_spatial_conv`` does."""
        c = self.conv
        return c.kind == "pdwconv" or (c.kind == "pconv" and c.dw_threshold is not None and self.d >= c.dw_threshold)


def module_prefixes(spec: UNetSpec, kind: str) -> list[tuple[int, str]]:
    """``(index into spec.<kind>, module path)`` of every module ``build_model(spec)`` builds for
    the stages or samplers ``kind`` (``encoder``, ``middle``, ``decoder``, ``down``, ``up``,
    ``skips``): one per entry in a U-Net (``decoder.2``); in a UNet++ one per node for the
    decoder side (``decoder.2.1`` is node ``x[2, 1]``), and only what its depth builds."""
    count = len(spec.middle) if kind == "middle" else spec.levels
    if spec.nested is None:
        return [(i, f"{kind}.{i}") for i in range(count)]
    d = spec.built_levels
    if kind in ("decoder", "up", "skips"):
        return [(i, f"{kind}.{i}.{j}") for i, j in nested_nodes(spec)]
    if kind == "middle":
        return [(j, f"middle.{j}") for j in range(count)] if d == spec.levels else []
    built = min(d + 1, count) if kind == "encoder" else d  # the backbone down to x[d, 0]
    return [(i, f"{kind}.{i}") for i in range(built)]


def conv_sites(spec: UNetSpec) -> list[ConvSite]:
    """Every configurable spatial conv of ``build_model(spec)`` (stages, samplers, fusions)."""
    sites: list[ConvSite] = []
    for i, prefix in module_prefixes(spec, "encoder"):
        sites += _stage_sites(prefix, spec.encoder[i], spec.encoder[i].width)
    for j, prefix in module_prefixes(spec, "middle"):
        sites += _stage_sites(prefix, spec.middle[j], spec.middle[j - 1].width if j else spec.middle[j].width)
    for i, prefix in module_prefixes(spec, "decoder"):
        sites += _stage_sites(prefix, spec.decoder[i], spec.decoder[i].width)
    for i, prefix in module_prefixes(spec, "down"):
        s = spec.down[i]
        if s.type == "pool_conv":  # PoolConvDown = Sequential(AvgPool2d, conv)
            sites.append(ConvSite(f"{prefix}.1", spec.encoder[i].width, spec.down_out_width(i), sampler_conv(s)))
        elif s.type == "pmrid_block":  # only its stride-1 conv2 is configurable
            out = spec.down_out_width(i)
            sites.append(
                ConvSite(
                    f"{prefix}.conv2",
                    out // 4,
                    out,
                    sampler_conv(s),
                    fold_bias=f"{prefix}.proj.1.bias",
                )
            )
    for i, prefix in module_prefixes(spec, "up"):
        if spec.up[i].type == "conv_interp":
            sites.append(
                ConvSite(f"{prefix}.conv", spec.up_in_width(i), spec.decoder[i].width, sampler_conv(spec.up[i]))
            )
    for i, prefix in module_prefixes(spec, "skips"):
        f = spec.skips[i]
        if f.type == "proj_add":
            sites.append(
                ConvSite(
                    f"{prefix}.conv", spec.encoder[i].width, spec.decoder[i].width, f.conv or ConvSpec("separable", 3)
                )
            )
    return sites


def _stage_sites(prefix: str, stage, in_ch: int) -> list[ConvSite]:
    conv, width, sites = stage_conv(stage), stage.width, []
    for k in range(stage.depth):
        block_in = in_ch if k == 0 else width
        names = _BLOCK_CONVS[stage.block]
        for name, (ci, co) in zip(names, block_conv_channels(stage.block, block_in, width), strict=False):
            # A PMRID encoder block that changes width has a separable proj branch with a bias.
            fold = (
                f"{prefix}.{k}.proj.1.bias"
                if (stage.block == "pmrid_encoder" and name == "conv2" and block_in != width)
                else None
            )
            sites.append(ConvSite(f"{prefix}.{k}.{name}", ci, co, conv, fold))
    return sites


# --------------------------------------------------------------------------- conv parts


@dataclass
class ConvParts:
    """A conv as ``bias + pointwise @ spatial(x)``, the form every partial-conv rule reads and writes.

    ``spatial``: ``(C_in, C_in, k, k)``, a square conv over all input channels (``None`` = the
    identity); ``pointwise``: ``(C_out, C_in)`` (``None`` = the identity, ``C_in == C_out``);
    ``bias``: ``(C_out,)`` or ``None``.
    """

    spatial: Tensor | None
    pointwise: Tensor | None
    bias: Tensor | None


def read_conv(site: ConvSite, state: State) -> ConvParts:
    """``site``'s conv in ``state`` as :class:`ConvParts`.

    Exact for every kind except a vanilla conv that changes the width: that one has no square
    spatial part, so it reads as the identity then the sum of its taps (``(C_out, C_in)``), which
    keeps its response to locally constant inputs and loses its spatial filtering. A
    re-parameterised conv (RRRB) reads as the plain conv it folds into.
    """
    if site.conv.reparam:
        site, state = folded_site(site, state)
    p, conv = site.prefix, site.conv
    if conv.kind == "vanilla":
        w, bias = state[f"{p}.weight"], state.get(f"{p}.bias")
        if site.in_ch == site.out_ch:
            return ConvParts(w, None, bias)
        return ConvParts(None, w.sum((2, 3)), bias)
    if conv.kind == "depthwise":
        return ConvParts(diag_embed(state[f"{p}.weight"]), None, state.get(f"{p}.bias"))
    if conv.kind == "separable":  # SeparableConv = Sequential(depthwise, 1x1)
        return ConvParts(
            diag_embed(state[f"{p}.0.weight"]), state[f"{p}.1.weight"][:, :, 0, 0], state.get(f"{p}.1.bias")
        )
    base = f"{p}.0" if conv.pointwise else p  # Sequential(PartialConv, 1x1) with a pointwise
    block = state[f"{base}.conv.weight"]
    spatial = embed_in_identity(diag_embed(block) if site.depthwise else block, site.in_ch)
    if not conv.pointwise:
        return ConvParts(spatial, None, None)
    return ConvParts(spatial, state[f"{p}.1.weight"][:, :, 0, 0], state.get(f"{p}.1.bias"))


def folded_site(site: ConvSite, state: State) -> tuple[ConvSite, State]:
    """A re-parameterised conv site as the plain conv it folds into: ``(site without reparam, the
    plain conv's tensors under the plain names)`` (``blocks.reparam.fold_rrrb``; a separable
    conv's folded depthwise bias goes into its 1x1's bias, exactly)."""
    import dataclasses

    from blocks.reparam import fold_rrrb

    p, kind = site.prefix, site.conv.kind
    rrrb = f"{p}.0" if kind == "separable" else p
    weight, bias = fold_rrrb(
        state[f"{rrrb}.expand.weight"],
        state.get(f"{rrrb}.expand.bias"),
        state[f"{rrrb}.fea.weight"],
        state.get(f"{rrrb}.fea.bias"),
        state[f"{rrrb}.reduce.weight"],
        state.get(f"{rrrb}.reduce.bias"),
    )
    plain = dataclasses.replace(site, conv=dataclasses.replace(site.conv, reparam=False))
    if kind != "separable":
        return plain, {f"{p}.weight": weight, **({f"{p}.bias": bias} if bias is not None else {})}
    out = {f"{p}.0.weight": weight, f"{p}.1.weight": state[f"{p}.1.weight"]}
    if f"{p}.1.bias" in state:
        pushed = state[f"{p}.1.weight"][:, :, 0, 0] @ bias if bias is not None else 0
        out[f"{p}.1.bias"] = state[f"{p}.1.bias"] + pushed
    return plain, out


def write_conv(site: ConvSite, parts: ConvParts, out: State) -> None:
    """Write ``parts`` into the partial conv at ``site`` (PConv / PDWConv, optional pointwise).

    The partial conv gets the top-left ``d x d`` block of ``parts.spatial`` (its diagonal when the
    layer is depthwise; a centred delta kernel when ``spatial`` is the identity); the pointwise
    gets ``parts.pointwise`` (the identity matrix when ``None``) and its bias, if it has one,
    ``parts.bias`` (zero when ``None``). A bias the new conv cannot hold goes to
    ``site.fold_bias`` when there is one (exact), otherwise it is dropped.
    """
    import torch

    conv, p = site.conv, site.prefix
    if not conv.is_partial:
        raise ValueError(f"{p}: carry rules only write partial convs, this one is {conv.kind}")
    d = site.d
    ref = out[f"{p}.0.conv.weight" if conv.pointwise else f"{p}.conv.weight"]
    block = parts.spatial[:d, :d] if parts.spatial is not None else delta_kernel(d, conv.kernel, ref)
    put(
        out,
        f"{p}.0.conv.weight" if conv.pointwise else f"{p}.conv.weight",
        take_diagonal(block) if site.depthwise else block,
    )
    bias = parts.bias
    if conv.pointwise:
        pw = parts.pointwise if parts.pointwise is not None else torch.eye(site.out_ch, site.in_ch).to(ref)
        put(out, f"{p}.1.weight", pw[:, :, None, None])
        if f"{p}.1.bias" in out:
            put(out, f"{p}.1.bias", bias if bias is not None else torch.zeros_like(out[f"{p}.1.bias"]))
            return
    # Without a pointwise, ``parts.pointwise`` cannot be held either (no transform makes that pair).
    if bias is not None and site.fold_bias is not None and site.fold_bias in out:
        put(out, site.fold_bias, out[site.fold_bias] + bias)


def carry_changed_convs(before: UNetSpec, after: UNetSpec, state: State, fresh: State) -> State:
    """:func:`default_carry`, then every conv site whose spec changed is read in ``before``'s
    form and written in ``after``'s (the same network otherwise: pconv, more_params, pdwconv)."""
    out = default_carry(before, after, {}, state, fresh)
    old_sites = {s.prefix: s for s in conv_sites(before)}
    for site in conv_sites(after):
        old = old_sites.get(site.prefix)
        if old is None or (old.conv == site.conv and old.in_ch == site.in_ch):
            continue
        reset_prefix(out, fresh, site.prefix + ".")
        write_conv(site, read_conv(old, state), out)
    return out


# --------------------------------------------------------------------------- kernels


def delta_kernel(channels: int, kernel: int, like: Tensor) -> Tensor:
    """The identity conv: ``(channels, channels, k, k)``, 1 at the centre tap of the diagonal."""
    import torch

    w = torch.zeros(channels, channels, kernel, kernel, dtype=like.dtype, device=like.device)
    idx = torch.arange(channels, device=like.device)
    w[idx, idx, kernel // 2, kernel // 2] = 1
    return w


def diag_embed(depthwise: Tensor) -> Tensor:
    """A depthwise weight ``(C, 1, k, k)`` as the dense conv it equals: ``(C, C, k, k)``, zero off
    the diagonal."""
    import torch

    return torch.diag_embed(depthwise[:, 0].permute(1, 2, 0)).permute(2, 3, 0, 1)


def take_diagonal(dense: Tensor) -> Tensor:
    """The diagonal of a dense conv ``(C, C, k, k)`` as a depthwise weight ``(C, 1, k, k)``."""
    return dense.diagonal(dim1=0, dim2=1).permute(2, 0, 1).unsqueeze(1)


def embed_in_identity(block: Tensor, channels: int) -> Tensor:
    """A partial conv's ``(d, d, k, k)`` weight as the dense conv it equals on all ``channels``:
    ``block`` top-left, a delta kernel on the rest of the diagonal (the pass-through channels)."""
    d, k = block.shape[0], block.shape[-1]
    full = delta_kernel(channels, k, block)
    full[:d, :d] = block
    return full
