"""``roadmap train --init WEIGHTS``: start a training from trained weights carried through the
spec's roadmap, with the carry-over rules the search's screen uses.

A weights file of ``roadmap train`` (or its ``.ckpt``, or a search's weights file) records the
spec it holds (``spec_yaml``). When that spec is an earlier point of the trained spec's roadmap --
the seed, or the seed after the first k of its provenance steps -- the remaining steps are
replayed on it and the weights carried through each (`roadmap.transforms.carry_weights`:
slices, identity kernels, kept names; new modules start fresh). A bare state dict with no spec
is taken as it is when it fits the spec exactly.

The share printed is that of the parameters (elements) whose value comes from the file: the
carry is run twice, the second time from the file's weights plus noise, and an element that
moved depends on them; the rest (fresh modules, identity kernels) does not.
"""

from __future__ import annotations

import dataclasses
import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from roadmap.errors import RoadmapError

__all__ = ["CarriedStart", "carried_start", "file_digest", "spec_label"]


@dataclass(frozen=True)
class CarriedStart:
    """Initial weights for a spec: ``state`` (a complete state dict, CPU tensors) and how much of
    it came from ``source``: ``carried`` of ``total`` parameter elements, through ``steps`` (the
    transform names replayed)."""

    state: dict
    carried: int
    total: int
    steps: tuple[str, ...]
    source: str

    @property
    def share(self) -> float:
        """Fraction of the parameters whose values come from the file."""
        return self.carried / self.total if self.total else 0.0

    def line(self) -> str:
        """``--init seed.pt: carried 87.3% of the parameters (...) through 5 steps (pconv, ...)``."""
        through = (
            f" through {len(self.steps)} step(s) ({', '.join(self.steps)})"
            if self.steps
            else " (the same spec: nothing to carry through)"
        )
        return (
            f"--init {self.source}: carried {self.share:.1%} of the parameters ({self.carried:,} of "
            f"{self.total:,}){through}; the rest starts fresh"
        )


def file_digest(path: str | Path) -> str:
    """SHA-256 (16 hex digits) of a file's bytes: what a checkpoint remembers of ``--init``."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()[:16]


def _read(path: Path) -> tuple[dict, str | None]:
    """``(state dict, spec YAML or None)`` of a weights file, a training checkpoint (its
    average, else its raw weights) or a bare state dict."""
    import torch

    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)  # no code runs from the file
    except Exception as exc:  # noqa: BLE001 - torn, foreign or not a torch file
        raise RoadmapError(f"--init {path}: cannot read it as a weights file ({type(exc).__name__})") from None
    if not isinstance(obj, dict):
        raise RoadmapError(f"--init {path}: not a weights file (expected a state dict)")
    state = obj.get("state_dict") or obj.get("ema") or obj.get("model") or obj
    if not isinstance(state, dict) or not state or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise RoadmapError(f"--init {path}: not a weights file (expected a state dict)")
    spec_yaml = obj.get("spec_yaml")
    return state, spec_yaml if isinstance(spec_yaml, str) else None


def spec_label(spec: Any) -> str:
    """``nafnet/w16 + pconv, more_params``: the spec's name and the steps of its provenance
    (a derived spec keeps its seed's name)."""
    steps = [step.get("transform", "?") for step in (spec.provenance or {}).get("steps") or []]
    return spec.name + (f" + {', '.join(steps)}" if steps else "")


def _body(spec: Any) -> Any:
    """The architecture alone: the spec without its name and provenance."""
    return dataclasses.replace(spec, name="", provenance={})


def _remaining_steps(source: Any, spec: Any, path: Path) -> list[dict]:
    """The steps of ``spec``'s provenance after those of ``source``'s; RoadmapError when
    ``source`` is not an earlier point of that roadmap."""
    from roadmap.transforms import apply_steps

    have = list((source.provenance or {}).get("steps") or [])
    want = list((spec.provenance or {}).get("steps") or [])
    if want[: len(have)] != have:
        raise RoadmapError(
            f"--init {path}: its spec ({spec_label(source)}) is not an earlier point of the roadmap "
            f"of {spec_label(spec)}; nothing to carry its weights through"
        )
    rest = want[len(have) :]
    try:
        reached = apply_steps(source, rest)
    except RoadmapError as exc:
        raise RoadmapError(
            f"--init {path}: cannot replay the steps of {spec_label(spec)} on its spec ({exc})"
        ) from None
    if _body(reached) != _body(spec):
        raise RoadmapError(
            f"--init {path}: its spec ({spec_label(source)}) through the remaining {len(rest)} step(s) "
            f"is another network than {spec_label(spec)} (another seed or variant?)"
        )
    return rest


def carried_start(spec: Any, path: str | Path, init_seed: int = 0) -> CarriedStart:
    """The weights of ``path`` carried to ``spec`` (module docstring); RoadmapError naming the
    file when they cannot be: unreadable, another seed, shapes that do not fit its spec."""
    import torch

    from roadmap.build import build_model
    from roadmap.spec import load_spec
    from roadmap.transforms import carry_weights

    path = Path(path)
    state, spec_yaml = _read(path)
    if spec_yaml is None:  # a bare state dict: only the spec's own weights can be taken
        source, steps = spec, []
    else:
        source = load_spec(spec_yaml)
        steps = _remaining_steps(source, spec, path)
    try:
        carried = carry_weights(source, state, steps, init_seed)
        noisy = _perturbed(state)
        moved = carry_weights(source, noisy, steps, init_seed)
    except (ValueError, RuntimeError, RoadmapError) as exc:
        why = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise RoadmapError(f"--init {path}: its weights cannot be carried to {spec_label(spec)} ({why})") from None
    with torch.device("meta"):  # names only
        names = [name for name, _ in build_model(spec).named_parameters()]
    total = sum(carried[n].numel() for n in names)
    count = sum(int((carried[n] != moved[n]).sum()) for n in names)
    return CarriedStart(
        {k: v.detach().cpu() for k, v in carried.items()},
        count,
        total,
        tuple(step["transform"] for step in steps),
        str(path),
    )


def _perturbed(state: dict) -> dict:
    """``state`` with seeded noise on every floating-point tensor (integers unchanged)."""
    import torch

    g = torch.Generator().manual_seed(12345)
    return {
        k: v + (torch.randn(v.shape, generator=g, dtype=v.dtype) * 0.1 + 0.05) if v.is_floating_point() else v
        for k, v in state.items()
    }
