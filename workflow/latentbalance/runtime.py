"""Where and how a job computes: its seeds, its device and its numeric precision.

Mixed precision is used where the hardware has it: bfloat16 autocast + channels_last on CPUs with
native bf16 (AVX-512 BF16 / AMX), AMP on CUDA; fp32 elsewhere (channels_last too on a CPU).
"""

from __future__ import annotations

import random
import zlib
from contextlib import nullcontext
from pathlib import Path

import numpy as np
import torch

from .choices import check


def seed_everything(seed: int) -> torch.Generator:
    """Seed Python, NumPy and torch; return a generator for batch order."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


def stage_seed(seed: int, *parts) -> int:
    """A seed for one job, derived from the config seed and the job's identity."""
    words = [seed] + [zlib.crc32(str(p).encode()) for p in parts]
    return int(np.random.SeedSequence(words).generate_state(1)[0])


def cpu_has_native_bf16() -> bool:
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def select_device(requested: str = "auto") -> torch.device:
    check("compute.device", requested)
    if requested == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if requested == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(
            "config asks for device 'cuda' but torch sees no GPU; "
            "set 'compute.device' to 'cpu' or 'auto'"
        )
    return torch.device(requested)


class Precision:
    """Autocast settings for a device: ``auto`` picks bf16 where it is native, else fp32."""

    def __init__(self, device: torch.device, requested: str = "auto"):
        check("compute.precision", requested)
        self.device = device
        if requested == "auto":
            native = device.type == "cuda" or cpu_has_native_bf16()
            requested = "bf16" if native else "fp32"
        self.name = requested
        self.dtype = torch.bfloat16 if requested == "bf16" else None
        # on a CPU oneDNN's channels_last kernels are faster in fp32 as well
        self.channels_last = requested == "bf16" or device.type == "cpu"

    def autocast(self):
        if self.dtype is None:
            return nullcontext()
        return torch.autocast(self.device.type, dtype=self.dtype)

    def prepare(self, module_or_tensor):
        """Move a model or an image batch to channels_last (on a CPU, or in mixed precision)."""
        if not self.channels_last:
            return module_or_tensor
        if isinstance(module_or_tensor, torch.Tensor) and module_or_tensor.dim() != 4:
            return module_or_tensor
        return module_or_tensor.to(memory_format=torch.channels_last)
