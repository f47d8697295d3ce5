"""The conv and attention kinds a block can use, and how many channels a partial conv convolves.

Plain Python (no torch): ``roadmap.spec`` validates specs with the same rule the blocks in
``blocks/`` are built with, so that a spec that validates always builds. It lives here, not in
``blocks/``, because importing anything from ``blocks`` loads torch and every block; it is the
one module ``blocks/`` imports from ``roadmap`` and it imports nothing itself.
"""

from __future__ import annotations

CONV_KINDS = ("vanilla", "depthwise", "separable", "pconv", "pdwconv")
# The kinds an RRRB (FMEN's re-parameterisable block, ``blocks.reparam``) can stand for: it
# trains in a multi-branch form and folds into one conv of that kind (a separable conv's
# depthwise part is the RRRB). Partial convs have no such form.
REPARAM_KINDS = ("vanilla", "depthwise", "separable")
# The attention of a NAFBlock: NAFNet's SCA, GAMA-IR's axis averages, or none.
ATTENTION_KINDS = ("sca", "gama", "none")


def partial_channels(channels: int, portion: float) -> int:
    """Channels a partial conv convolves: ``floor(C * portion)`` (MOFA's ``dim // n_div``).

    May be 0 (``portion`` below ``1 / C``): the spec refuses such a portion, and
    :class:`blocks.conv.PartialConv` raises for it.
    """
    return int(channels * portion + 1e-9)  # the epsilon: 100 * 0.29 is 28.999..., 29 channels
