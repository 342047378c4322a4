"""Choosing the torch device a command runs on."""

from __future__ import annotations

import torch

from tunesmith import TunesmithError


def pick_device(name: str) -> torch.device:
    """`auto` (CUDA when PyTorch sees a GPU, else the CPU), `cpu`, `cuda` or `cuda:N`."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise TunesmithError("--device cuda was asked for, but PyTorch sees no CUDA GPU here")
    return torch.device(name)
