"""Several processes, one training run: DistributedDataParallel through torchrun.

    torchrun --nproc_per_node 4 -m tunesmith train --corpus ... --out runs/x
    torchrun --nnodes 2 --node_rank 0 --master_addr HOST --nproc_per_node 8 -m tunesmith train ...

torchrun sets RANK, WORLD_SIZE and LOCAL_RANK; with WORLD_SIZE above one the
trainer joins the process group (NCCL on CUDA GPUs, gloo on CPUs), each
process takes its share of every batch's rows, gradients are averaged by DDP,
and only rank 0 writes the run folder and talks to the terminal. Without
torchrun nothing here does anything.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

from tunesmith import TunesmithError


@dataclass
class Dist:
    rank: int = 0
    world: int = 1
    local_rank: int = 0
    backend: str | None = None

    @property
    def main(self) -> bool:
        return self.rank == 0

    @property
    def active(self) -> bool:
        return self.world > 1

    @classmethod
    def from_env(cls, device: torch.device) -> "Dist":
        world = int(os.environ.get("WORLD_SIZE", "1"))
        if world <= 1:
            return cls()
        rank, local_rank = int(os.environ.get("RANK", "0")), int(os.environ.get("LOCAL_RANK", "0"))
        backend = "nccl" if device.type == "cuda" else "gloo"
        if not dist.is_initialized():
            try:
                dist.init_process_group(backend)
            except Exception as exc:  # noqa: BLE001 - a rendezvous that fails is one sentence
                raise TunesmithError(f"could not join the {world} training processes ({backend}): {exc}") from None
        return cls(rank, world, local_rank, backend)

    def device(self, device: torch.device) -> torch.device:
        """Each process on a node takes its own GPU."""
        if self.active and device.type == "cuda":
            torch.cuda.set_device(self.local_rank)
            return torch.device("cuda", self.local_rank)
        return device

    def agree(self, ok: bool) -> bool:
        """True when every process says True (rank 0's failure stops the others cleanly)."""
        return self._reduce(ok, dist.ReduceOp.MIN)

    def any(self, flag: bool) -> bool:
        """True when some process says True (a time limit reached on one ends the run for all)."""
        return self._reduce(flag, dist.ReduceOp.MAX)

    def _reduce(self, flag: bool, op) -> bool:
        if not self.active:
            return flag
        value = torch.tensor([1 if flag else 0], dtype=torch.int32, device=self._device())
        dist.all_reduce(value, op=op)
        return bool(value.item())

    def gather_rows(self, tensor: torch.Tensor) -> torch.Tensor:
        """(layers, rows, hidden) from every process → (layers, rows × world, hidden), in rank order."""
        if not self.active:
            return tensor
        parts = [torch.empty_like(tensor) for _ in range(self.world)]
        dist.all_gather(parts, tensor.contiguous())
        return torch.cat(parts, dim=1)

    def checksums(self, model: torch.nn.Module) -> list[list[float]]:
        """Per process: (sum, sum of squares) of all weights, to show the copies stayed identical."""
        with torch.no_grad():
            flat = torch.cat([p.detach().double().reshape(-1) for p in model.parameters()])
            mine = torch.stack([flat.sum(), (flat * flat).sum()]).to(self._device())
        if not self.active:
            return [mine.tolist()]
        parts = [torch.empty_like(mine) for _ in range(self.world)]
        dist.all_gather(parts, mine)
        return [p.tolist() for p in parts]

    def close(self, together: bool = False) -> None:
        """Leave the process group. `together` (a run that ended well on every process): first wait
        for every process to get here, so none shuts its connections down while another is still
        finishing its last collective (gloo aborted a process now and then when one left early).
        Not after an error: the others may be inside a collective that never comes, and the failed
        process must exit for torchrun to stop them."""
        if self.active and dist.is_initialized():
            if together:
                dist.barrier()
            dist.destroy_process_group()

    def _device(self) -> torch.device:
        return torch.device("cuda", self.local_rank) if self.backend == "nccl" else torch.device("cpu")
