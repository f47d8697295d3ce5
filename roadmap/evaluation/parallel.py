"""Data-parallel workers of the one training loop: a `Replica` backed by ``torch.distributed``.

Whoever starts the workers (Ray Train, `roadmap.review.ray_train`, or ``torchrun``) sets up the
process group -- gloo on CPUs, NCCL on GPUs -- and calls :func:`ddp_replica` in each worker;
`roadmap.evaluation.training.train` then trains through it. Nothing here knows Ray.
"""

from __future__ import annotations

import torch

from roadmap.evaluation.training import Replica

__all__ = ["ddp_replica"]


def ddp_replica(device: torch.device) -> Replica:
    """This process's `Replica` in the initialised default process group: its rank and the
    world size; ``wrap`` puts a module under ``DistributedDataParallel`` (gradients averaged
    over the workers during backward; ``static_graph``: parameters a network never uses do not
    stall the reduction); ``mean`` all-reduces a scalar tensor on ``device`` and divides by the
    world size."""
    import torch.distributed as dist
    from torch.nn.parallel import DistributedDataParallel

    if not dist.is_initialized():
        raise RuntimeError("ddp_replica: no torch.distributed process group in this process")
    rank, world = dist.get_rank(), dist.get_world_size()

    def wrap(module: torch.nn.Module) -> torch.nn.Module:
        ids = (
            [device.index if device.index is not None else torch.cuda.current_device()]
            if device.type == "cuda"
            else None
        )
        return DistributedDataParallel(module.to(device), device_ids=ids, static_graph=True)

    def mean(value: torch.Tensor) -> float:
        total = value.detach().float().reshape(1).to(device).clone()
        dist.all_reduce(total)  # SUM
        return float(total) / world

    return Replica(rank, world, wrap, mean)
