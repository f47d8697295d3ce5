"""Addresses of the parts of a U-Net spec: the one grammar every module parses them with.

An address is ``kind[index]`` or a bare ``kind``. Two vocabularies share that grammar:

- **transform addresses**, what a transform parameter (``pconv.targets``, ``pconv.overrides``,
  ``more_params.targets``) and a search space's ``per:`` list accept: ``encoder[i]``,
  ``middle[j]``, ``decoder[i]``, ``down[i]``, ``up[i]``, ``skips[i]``, ``level[i]`` (=
  ``encoder[i]``, ``decoder[i]``, ``skips[i]``) and ``middle`` (= every ``middle[j]``). The stem
  and the head are never rewritten, so they are not transform addresses.
- **stage addresses**, the parts of a built network the analysis reports MACs for (its
  submodules ``UNet.encoder.2``, ``UNet.stem``, ...): ``encoder[i]``, ``down[i]``,
  ``middle[j]``, ``up[i]``, ``skips[i]``, ``decoder[i]``, ``iem[i]``, ``stem``, ``head``,
  ``msiam``. In a UNet++ (``UNetPlusPlus``) every node ``x[i, j]`` has its own
  ``up.i.j``, ``skips.i.j`` and ``decoder.i.j``, which count to ``up[i]``, ``skips[i]`` and
  ``decoder[i]``; its heads ``head.j`` count to ``head``.

This module imports neither torch nor the spec: it only reads ``spec.levels`` and
``spec.middle``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from roadmap.errors import SpecError

__all__ = [
    "Address",
    "ACCEPTED_FORMS",
    "parse_address",
    "expand_address",
    "address_exists",
    "valid_addresses",
    "parse_stage",
    "stage_of_module",
]

# Transform addresses: the kinds that take an index, and those that may stand alone.
TRANSFORM_INDEXED = ("encoder", "middle", "decoder", "down", "up", "skips", "level")
TRANSFORM_BARE = ("middle",)
# Stage addresses: how the built network's submodules are named (roadmap.build.UNet).
STAGE_INDEXED = ("encoder", "down", "middle", "up", "skips", "decoder", "iem")
STAGE_BARE = ("stem", "head", "msiam")
# The stages ``level[i]`` stands for.
LEVEL_STAGES = ("encoder", "decoder", "skips")

ACCEPTED_FORMS = "encoder[1], middle[0], decoder[2], down[0], up[1], skips[0], level[1] or middle"

# The grammar. A negative index parses (the transforms then say it does not exist).
_FORM = re.compile(r"([a-z]+)(?:\[(-?\d+)\])?")
_MODULE = re.compile(r"UNet\.([a-z]+)(?:\.(\d+))?")
# UNet++: the modules of node x[i, j] (``up.i.j``, ...) and its heads (``head.j``)
_NESTED_MODULE = re.compile(r"UNetPlusPlus\.(?:(up|skips|decoder)\.(\d+)\.\d+|(head)\.\d+|([a-z]+)(?:\.(\d+))?)")


@dataclass(frozen=True)
class Address:
    """A parsed address: ``kind`` and ``index`` (``None`` for a bare kind such as ``middle``)."""

    kind: str
    index: int | None = None

    def __str__(self) -> str:
        return self.kind if self.index is None else f"{self.kind}[{self.index}]"


def _split(text: Any) -> Address | None:
    """The grammar alone: ``kind[index]`` or ``kind`` -> Address; anything else -> None."""
    m = _FORM.fullmatch(text) if isinstance(text, str) else None
    if m is None:
        return None
    return Address(m.group(1), None if m.group(2) is None else int(m.group(2)))


def _in_vocabulary(address: Address, indexed: tuple[str, ...], bare: tuple[str, ...]) -> bool:
    return address.kind in (bare if address.index is None else indexed)


def parse_address(text: Any) -> Address:
    """Parse a transform address (``encoder[1]``, ``level[0]``, ``middle``, ...).

    Raises :class:`SpecError` (``'stem' is not an address like encoder[1], ...``) for anything
    else; indices are not checked against a spec here (see :func:`expand_address`).
    """
    address = _split(text)
    if address is None or not _in_vocabulary(address, TRANSFORM_INDEXED, TRANSFORM_BARE):
        raise SpecError(f"{text!r} is not an address like {ACCEPTED_FORMS}")
    return address


def _size(spec: Any, kind: str) -> int:
    """How many entries of ``kind`` the spec has (every per-level list has ``spec.levels``)."""
    return len(spec.middle) if kind == "middle" else spec.levels


def expand_address(spec: Any, text: Any) -> list[str]:
    """The stage addresses ``text`` stands for in ``spec``.

    ``level[i]`` -> ``encoder[i]``, ``decoder[i]``, ``skips[i]``; ``middle`` -> every
    ``middle[j]``; any other address -> itself. Raises :class:`SpecError` when ``text`` is not
    a transform address or its index is not in the spec (negative indices never are).
    """
    address = parse_address(text)
    if address.index is None:  # the bare ``middle``
        return [f"middle[{j}]" for j in range(len(spec.middle))]
    size = _size(spec, address.kind)
    if not 0 <= address.index < size:
        raise SpecError(f"{text} does not exist (valid indices 0..{size - 1})")
    if address.kind == "level":
        return [f"{kind}[{address.index}]" for kind in LEVEL_STAGES]
    return [str(address)]


def address_exists(spec: Any, text: Any) -> bool:
    """Whether ``spec`` has what the transform address ``text`` names (``middle``: any middle
    stage). Raises :class:`SpecError` when ``text`` is not a transform address."""
    address = parse_address(text)
    if address.index is None:
        return bool(spec.middle)
    return 0 <= address.index < _size(spec, address.kind)


def valid_addresses(spec: Any) -> str:
    """The transform addresses ``spec`` has, in short: ``encoder[0-2], middle[0], decoder[0-2],
    down[0-2], up[0-2], skips[0-2], level[0-2], middle`` (what a refusal lists as valid)."""
    parts = []
    for kind in TRANSFORM_INDEXED:
        size = _size(spec, kind)
        if size:
            parts.append(f"{kind}[0]" if size == 1 else f"{kind}[0-{size - 1}]")
    return ", ".join(parts + (["middle"] if spec.middle else []))


def parse_stage(text: Any) -> Address | None:
    """Parse a stage address of the analysis (``encoder[2]``, ``iem[0]``, ``stem``, ``msiam``);
    ``None`` for anything else."""
    address = _split(text)
    if address is None or not _in_vocabulary(address, STAGE_INDEXED, STAGE_BARE):
        return None
    return address


def stage_of_module(name: str) -> str | None:
    """The stage address of a top-level submodule name: ``UNet.encoder.2`` -> ``encoder[2]``,
    ``UNet.stem`` -> ``stem``; deeper names (``UNet.encoder.2.0.conv1``) and others -> None.
    A UNet++ node's modules give their level's stage (``UNetPlusPlus.decoder.1.2`` ->
    ``decoder[1]``; several modules then share one address), its heads ``head``."""
    m = _MODULE.fullmatch(name)
    if m is not None:
        kind, index = m.group(1), m.group(2)
    else:
        m = _NESTED_MODULE.fullmatch(name)
        if m is None:
            return None
        kind = m.group(1) or m.group(3) or m.group(4)
        index = m.group(2) if m.group(1) else m.group(5)
    address = Address(kind, None if index is None else int(index))
    return str(address) if _in_vocabulary(address, STAGE_INDEXED, STAGE_BARE) else None
