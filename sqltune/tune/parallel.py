"""Data-parallel tuning: the same command on several GPUs (or processes) at once.

``accelerate launch --multi_gpu -m sqltune tune NAME`` (or ``torchrun --nproc_per_node N -m sqltune tune NAME``)
starts one process per device; each reads ``RANK``, ``WORLD_SIZE`` and ``LOCAL_RANK`` from its
environment, and :func:`current` joins them into one process group (NCCL on GPUs, gloo on CPUs).
Every process computes the same epoch plan and batch order; each batch is then *split* over the
processes (row ``k`` to process ``k mod N``), each runs its rows, and the gradients are summed with
each process's loss scaled by its share of the batch's target weight. So ``batch_tokens`` means the
same thing on one process or eight, and a step is the same update as on one process, up to float
summation order: more processes make a step faster, not different (MoME's load-balancing term is the
mean of each process's own). Process 0 alone writes the log, checkpoints, the adapter and measures
recall; the others wait for it. Across machines the adapter folder must be on a shared filesystem.

>>> Ranks().shard([10, 11, 12, 13, 14])  # one process: everything
[10, 11, 12, 13, 14]
>>> Ranks(rank=1, world=2).shard([10, 11, 12, 13, 14])
[11, 13]
"""

from __future__ import annotations

import atexit
import os
import typing as t
from dataclasses import dataclass


@dataclass(frozen=True)
class Ranks:
    """This process's place in a data-parallel run (``world == 1``: a plain single-process run)."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        """Process 0: the one that writes files."""
        return self.rank == 0

    @property
    def parallel(self) -> bool:
        return self.world > 1

    def shard(self, items: t.Sequence[t.Any]) -> list[t.Any]:
        """This process's share of ``items``: every ``world``-th one, from position ``rank``."""
        return list(items[self.rank::self.world])

    def sum(self, values: t.Sequence[float]) -> list[float]:
        """``values`` summed over the processes (as float64)."""
        if not self.parallel:
            return [float(v) for v in values]
        import torch
        import torch.distributed as dist

        x = torch.tensor([float(v) for v in values], dtype=torch.float64, device=_comm_device())
        dist.all_reduce(x)
        return x.tolist()

    def max(self, value: float) -> float:
        """The largest ``value`` over the processes (for decisions all must take alike, e.g. a time budget)."""
        if not self.parallel:
            return value
        import torch
        import torch.distributed as dist

        x = torch.tensor([float(value)], dtype=torch.float64, device=_comm_device())
        dist.all_reduce(x, op=dist.ReduceOp.MAX)
        return float(x.item())

    def gather(self, obj: t.Any) -> list[t.Any]:
        """Every process's ``obj``, in rank order."""
        if not self.parallel:
            return [obj]
        import torch.distributed as dist

        out: list[t.Any] = [None] * self.world
        dist.all_gather_object(out, obj)
        return out

    def sum_grads(self, params: t.Sequence[t.Any]) -> None:
        """Sum the gradients of ``params`` over the processes, in place (a missing one counts as zero)."""
        if not self.parallel:
            return
        import torch
        import torch.distributed as dist

        for p in params:
            if p.grad is None:
                p.grad = torch.zeros_like(p)
        flat = torch.cat([p.grad.reshape(-1) for p in params])
        dist.all_reduce(flat)
        at = 0
        for p in params:
            n = p.numel()
            p.grad.copy_(flat[at:at + n].view_as(p.grad))
            at += n

    def barrier(self) -> None:
        if self.parallel:
            import torch.distributed as dist

            dist.barrier()


def current() -> Ranks:
    """This process's :class:`Ranks` from the launcher's environment; joins the process group once.

    Without ``WORLD_SIZE`` (or with 1) this is a plain run and nothing is initialised.
    """
    world = int(os.environ.get("WORLD_SIZE", "1") or 1)
    if world <= 1:
        return Ranks()
    import torch
    import torch.distributed as dist

    rank, local = int(os.environ.get("RANK", "0")), int(os.environ.get("LOCAL_RANK", "0"))
    if not dist.is_initialized():
        if torch.cuda.is_available():
            torch.cuda.set_device(local)
        dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
        atexit.register(_leave)  # a group left open aborts its process at exit ("terminate called ...")
    return Ranks(rank=rank, world=world, local_rank=local)


def _leave() -> None:
    import torch.distributed as dist

    if dist.is_initialized():
        dist.barrier()  # no process leaves while another still talks to the group
        dist.destroy_process_group()


def _comm_device() -> t.Any:
    import torch
    import torch.distributed as dist

    return torch.device("cuda", torch.cuda.current_device()) if dist.get_backend() == "nccl" else torch.device("cpu")
