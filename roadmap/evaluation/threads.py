"""Scoped torch CPU thread count and determinism settings (restored on exit)."""

from __future__ import annotations

import contextlib

import torch


@contextlib.contextmanager
def torch_threads(threads: int | None):
    """Run the block with ``torch.set_num_threads(threads)``; ``None`` changes nothing."""
    if threads is None:
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(int(threads))
    try:
        yield
    finally:
        torch.set_num_threads(before)


@contextlib.contextmanager
def deterministic(enabled: bool = True):
    """Ask torch for deterministic kernels inside the block (``warn_only``: an op with
    no deterministic version warns instead of failing a trial), then restore."""
    before = torch.are_deterministic_algorithms_enabled()
    before_warn = torch.is_deterministic_algorithms_warn_only_enabled()
    torch.use_deterministic_algorithms(enabled, warn_only=True)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(before, warn_only=before_warn)
