"""Static cost of a spec at an input size, computed before anything is trained.

- **Parameters**: all of them, and "conv only" as thop counts (Conv / ConvTranspose / Linear
  layers; LayerNorm2d weights and bare parameters such as NAFNet's beta/gamma left out).
- **MACs**: ``torch.utils.flop_counter.FlopCounterMode`` on the ``meta`` device (exact for
  the modules as built; bias and element-wise ops not counted, as in the papers), in total,
  per layer and per stage (MOFA Fig. 4).
- **Skip memory** ``M_sc`` (UNet-- section 3.1): elements kept for the skip connections after
  each encoder / decoder step, and its peak.
- **Peak activation memory** of inference (FMEN section 3.1): every op of the forward pass is
  recorded on the ``meta`` device with its input and output tensors; a tensor lives from the op
  that allocates it to its last use (views share their base's storage), the network input and
  output included. The peak of live bytes is the prediction; no real memory is allocated.
  ``peak_memory_cpu_bytes`` adds what PyTorch's CPU convolutions (oneDNN) allocate besides
  their output while they run -- a re-ordered copy of the larger of input and output for a
  k x k conv (k > 1), two output-sized buffers for a transposed conv, nothing for a 1x1 --
  the figure to compare with a measurement on the CPU (measured with the torch profiler in
  ``roadmap.evaluation.memory``).
- **Deployed form**: the figures above describe the network as built. For a spec with
  re-parameterised convs (FMEN RRRBs, ``reparam``) that is the training form; ``deployed``
  gives params, MACs and peak memory of ``fold_spec(spec)``, one conv per RRRB, which is what
  ``measure_spec`` / ``evaluate_spec`` report and the ONNX export holds.
"""

from __future__ import annotations

import copy
from collections import OrderedDict
from dataclasses import asdict, dataclass, field

import torch
from torch import nn
from torch.utils import _pytree as pytree
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils.flop_counter import FlopCounterMode
from torch.utils.weak import WeakIdKeyDictionary

from roadmap.addresses import stage_of_module
from roadmap.build import UNet, UNetPlusPlus, build_model, fold_spec, spec_has_reparam
from roadmap.spec import UNetSpec, aggregate_channels, aggregate_layout
from roadmap.spec import input_hw as network_input_hw

CONV_LIKE = (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.ConvTranspose1d, nn.ConvTranspose2d, nn.Linear)


@dataclass
class Analysis:
    """What a spec costs for an ``output_hw`` output (batch 1, float32): the network runs at
    ``input_hw``, the same size unless the spec super-resolves (then the low-resolution input,
    ``output_hw / upscale``, at which MACs and memory are counted)."""

    input_hw: tuple[int, int]
    output_hw: tuple[int, int]
    params: int
    params_conv_only: int
    macs: int
    stages: dict[str, int]
    layers: dict[str, int]
    skip_memory_elements_peak: int
    skip_memory_timeline: list[tuple[str, int]]
    peak_activation_elements: int
    peak_activation_bytes: int
    peak_activation_at: str = ""
    peak_memory_cpu_bytes: int = 0
    notes: list[str] = field(default_factory=list)
    # Re-parameterised specs only (None otherwise): the folded network's ``params``,
    # ``params_conv_only``, ``macs``, ``peak_activation_bytes``, ``peak_memory_cpu_bytes``.
    deployed: dict[str, int] | None = None

    @property
    def stage_shares(self) -> dict[str, float]:
        """Each stage's share of the total MACs (MOFA's per-layer FLOPs distribution)."""
        return mac_shares(self.stages)

    def to_dict(self, layers: bool = True) -> dict:
        out = asdict(self)
        out["input_hw"] = list(self.input_hw)
        out["output_hw"] = list(self.output_hw)
        out["skip_memory_timeline"] = [list(e) for e in self.skip_memory_timeline]
        if not layers:
            out.pop("layers")
        return out


def mac_shares(stages: dict[str, int]) -> dict[str, float]:
    """Each stage's share of the summed MACs."""
    total = sum(stages.values()) or 1
    return {k: v / total for k, v in stages.items()}


def count_params(model: nn.Module) -> tuple[int, int]:
    """``(all parameters, parameters of conv-like layers only)`` -- the latter as thop counts."""
    total = sum(p.numel() for p in model.parameters())
    conv = sum(p.numel() for m in model.modules() if isinstance(m, CONV_LIKE) for p in m.parameters(recurse=False))
    return total, conv


def _padded(spec: UNetSpec, hw: tuple[int, int]) -> tuple[int, int]:
    m = 2**spec.built_levels
    return tuple(-(-s // m) * m for s in hw)


def count_macs(model: nn.Module, input_shape: tuple[int, ...]) -> tuple[int, dict[str, int], dict[str, int]]:
    """``(total MACs, MACs per stage address, MACs per leaf layer)`` for one forward pass.

    ``model`` should live on the ``meta`` device (see :func:`meta_model`): only shapes matter.
    """
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model(torch.empty(*input_shape, device="meta"))
    counts = counter.get_flop_counts()
    total = sum(counts.get("Global", {}).values()) // 2
    stages: dict[str, int] = {}
    layers: dict[str, int] = {}
    leaves = {name for name, mod in model.named_modules() if not list(mod.children())}
    for fqn, ops in counts.items():
        macs = sum(ops.values()) // 2
        address = stage_of_module(fqn)
        if address is not None:  # a UNet++ level's nodes share their stage's address
            stages[address] = stages.get(address, 0) + macs
        name = fqn.split(".", 1)[1] if "." in fqn else ""
        if name in leaves:
            layers[name] = macs
    return total, stages, layers


class _LifetimeRecorder(TorchDispatchMode):
    """Records, for each tensor storage, its size, the op that allocates it and its last use."""

    def __init__(self):
        super().__init__()
        self.step = 0
        self.buffers: list[list[int]] = []  # [bytes, elements, first step, last step]
        self.names: list[str] = []
        self.workspaces: list[tuple[int, int]] = []  # (bytes, step) of CPU conv temporaries
        self.owner = WeakIdKeyDictionary()

    def track(self, tensor: torch.Tensor, name: str) -> None:
        self.owner[tensor] = len(self.buffers)
        self.buffers.append([tensor.numel() * tensor.element_size(), tensor.numel(), self.step, self.step])
        self.names.append(name)

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        self.step += 1
        inputs = [t for t in pytree.tree_leaves((args, kwargs)) if isinstance(t, torch.Tensor)]
        for t in inputs:
            index = self.owner.get(t)
            if index is not None:
                self.buffers[index][3] = self.step
        aliases = any(r.alias_info is not None for r in func._schema.returns)
        base = next((self.owner.get(t) for t in inputs if self.owner.get(t) is not None), None)
        for t in pytree.tree_leaves(out):
            if not isinstance(t, torch.Tensor):
                continue
            if aliases and base is not None:
                self.owner[t] = base  # a view or in-place result shares its input's storage
            elif not aliases:
                self.track(t, str(func.overloadpacket.__name__))
        if func is torch.ops.aten.convolution.default:
            self._conv_workspace(args, out)
        return out

    def _conv_workspace(self, args, out: torch.Tensor) -> None:
        x, weight, transposed = args[0], args[1], args[6]
        out_bytes = out.numel() * out.element_size()
        if transposed:
            self.workspaces.append((2 * out_bytes, self.step))
        elif weight.shape[2:].numel() > 1:
            self.workspaces.append((max(out_bytes, x.numel() * x.element_size()), self.step))


def peak_activation(model: nn.Module, input_shape: tuple[int, ...]) -> tuple[int, int, str, int]:
    """``(peak bytes, peak elements, op at the peak, peak bytes with CPU conv workspaces)``.

    Live activations in one forward pass; parameters are not activations and are not counted,
    the input and output are.
    """
    x = torch.empty(*input_shape, device="meta")
    recorder = _LifetimeRecorder()
    with torch.no_grad():
        recorder.track(x, "input")
        with recorder:
            y = model(x)
    end = recorder.step + 1
    recorder.buffers[recorder.owner[y]][3] = end  # the output lives to the end
    delta_bytes = [0] * (end + 2)
    delta_elems = [0] * (end + 2)
    for size, elems, first, last in recorder.buffers:
        delta_bytes[first] += size
        delta_bytes[last + 1] -= size
        delta_elems[first] += elems
        delta_elems[last + 1] -= elems
    workspace = [0] * (end + 2)
    for size, step in recorder.workspaces:
        workspace[step] = max(workspace[step], size)
    live_b = live_e = peak_b = peak_e = peak_step = peak_cpu = 0
    for step in range(end + 1):
        live_b += delta_bytes[step]
        live_e += delta_elems[step]
        peak_cpu = max(peak_cpu, live_b + workspace[step])
        if live_b > peak_b:
            peak_b, peak_e, peak_step = live_b, live_e, step
    at = next((n for (s, _, f, _l), n in zip(recorder.buffers, recorder.names, strict=False) if f == peak_step), "")
    return peak_b, peak_e, at, peak_cpu


def skip_memory_timeline(spec: UNetSpec, input_hw: tuple[int, int]) -> list[tuple[str, int]]:
    """Elements kept for skip connections after each step of the forward pass (UNet-- M_sc),
    for a network input of ``input_hw`` (a super-resolution spec's low-resolution input)."""
    if spec.nested is not None:
        return _nested_timeline(spec, input_hw)
    h, w = _padded(spec, input_hw)
    area = [(h >> i) * (w >> i) for i in range(spec.levels + 1)]
    used = [s.type != "none" for s in spec.skips]
    reduced = {lv: r for lv, _, r in aggregate_layout(spec)} if spec.aggregate else {}
    kept, timeline = 0, [("stem", 0)]
    for i in range(spec.levels):
        if used[i]:
            kept += (reduced[i] if spec.aggregate else spec.encoder[i].width) * area[i]
        timeline.append((f"encoder[{i}]", kept))
    if spec.aggregate:
        kept = aggregate_channels(spec) * area[spec.aggregate.target_level]
        timeline.append(("msiam", kept))
    timeline.append(("middle", kept))
    last = min((i for i in range(spec.levels) if used[i]), default=None)
    for i in reversed(range(spec.levels)):
        if used[i] and not spec.aggregate:
            kept -= spec.encoder[i].width * area[i]
        if spec.aggregate and i == last:
            kept = 0
        timeline.append((f"decoder[{i}]", kept))
    return timeline


def _nested_timeline(spec: UNetSpec, input_hw: tuple[int, int]) -> list[tuple[str, int]]:
    """UNet++: elements kept after each node ``x[i, j]`` (in the order the forward pass computes
    them: anti-diagonal ``i + j = s`` by anti-diagonal, the backbone node first) for a later node
    of the same level to read. Every node of level ``i`` but the last is read by the level's last
    node, ``x[i, d - i]``, so it stays alive until that one exists -- which is why UNet++ holds
    more than a U-Net of the same widths."""
    h, w = _padded(spec, input_hw)
    d = spec.built_levels

    def size(i: int, j: int) -> int:
        width = spec.encoder[i].width if j == 0 else spec.decoder[i].width
        return width * (h >> i) * (w >> i)

    kept, timeline = 0, [("stem", 0)]
    for s in range(d + 1):
        for i in reversed(range(s + 1)):
            j = s - i
            if j < d - i:  # the level's last node will read it
                kept += size(i, j)
            elif j > 0:  # the level's last node: the nodes before it are free now
                kept -= sum(size(i, k) for k in range(j))
            timeline.append((f"x[{i},{j}]", kept))
    return timeline


def meta_model(spec: UNetSpec) -> UNet | UNetPlusPlus:
    """Build ``spec`` on the ``meta`` device: shapes and parameter counts without memory."""
    with torch.device("meta"):
        return build_model(spec)


# A search asks for the same candidate's analysis several times (constraint check, measurement,
# training); it costs seconds, so recent results are kept, keyed by the spec's YAML.
_CACHE: OrderedDict[tuple[str, tuple[int, int]], Analysis] = OrderedDict()
_CACHE_SIZE = 64


def analyze(spec: UNetSpec, input_hw: tuple[int, int] = (256, 256)) -> Analysis:
    """Everything static about ``spec`` for an image of ``input_hw = (H, W)``.

    ``input_hw`` is the size of the network's OUTPUT (the image the user wants); it is the size
    of the input too, except for a super-resolution spec, whose network runs at the
    low-resolution input ``roadmap.spec.input_hw(spec, (H, W))`` = ``(H / s, W / s)``: MACs and
    memory are counted there, and ``Analysis.input_hw`` is that size (``output_hw`` is
    ``(H, W)``). Raises :class:`~roadmap.errors.SpecError` when ``(H, W)`` is not divisible by
    the scale.

    >>> from roadmap.seeds import get_seed
    >>> analyze(get_seed("nafnet", "w16")).params_conv_only
    286579
    """
    h, w = input_hw  # a list (JSON, YAML) too
    key = (spec.to_yaml(), (h, w))
    if key not in _CACHE:
        _CACHE[key] = _analyze(spec, (h, w))
        if len(_CACHE) > _CACHE_SIZE:
            _CACHE.popitem(last=False)
    _CACHE.move_to_end(key)
    return copy.deepcopy(_CACHE[key])  # callers may change what they get


def _analyze(spec: UNetSpec, output_hw: tuple[int, int]) -> Analysis:
    input_hw = network_input_hw(spec, output_hw)  # validates the size before anything is built
    model = meta_model(spec)
    params, params_conv = count_params(model)
    shape = (1, spec.in_channels, *input_hw)
    macs, stages, layers = count_macs(model, shape)
    peak_b, peak_e, at, peak_cpu = peak_activation(model, shape)
    timeline = skip_memory_timeline(spec, input_hw)
    notes = []
    if _padded(spec, input_hw) != tuple(input_hw):
        notes.append(f"input padded to {_padded(spec, input_hw)} (a multiple of {2**spec.built_levels})")
    deployed = None
    if spec_has_reparam(spec):
        folded = analyze(fold_spec(spec), output_hw)
        deployed = {
            k: getattr(folded, k)
            for k in ("params", "params_conv_only", "macs", "peak_activation_bytes", "peak_memory_cpu_bytes")
        }
        notes.append(
            "re-parameterised convs (RRRB): the figures above are the training form; "
            "'deployed' is the folded network (one conv per RRRB)"
        )
    return Analysis(
        input_hw=input_hw,
        output_hw=output_hw,
        params=params,
        params_conv_only=params_conv,
        macs=macs,
        stages=stages,
        layers=layers,
        skip_memory_elements_peak=max(k for _, k in timeline),
        skip_memory_timeline=timeline,
        peak_activation_elements=peak_e,
        peak_activation_bytes=peak_b,
        peak_activation_at=at,
        peak_memory_cpu_bytes=peak_cpu,
        notes=notes,
        deployed=deployed,
    )
