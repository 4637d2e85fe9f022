"""Where and how a job computes: its seeds, its device, its numeric precision and how
deterministic the device is asked to be.

Mixed precision is used where the hardware has it: bfloat16 autocast + channels_last on CPUs with
native bf16 (AVX-512 BF16 / AMX) and on CUDA cards from Ampere on (sm80+); float16 autocast with a
gradient scaler on older CUDA cards, where cuDNN has no bf16 convolutions; fp32 elsewhere
(channels_last too on a CPU).
"""

from __future__ import annotations

import logging
import os
import random
import zlib
from contextlib import nullcontext

import numpy as np
import torch

from .environment import cpu_has_native_bf16, gpu_installed, note_auto_on_cpu, nvidia_driver

log = logging.getLogger(__name__)

# One fixed cuBLAS workspace makes its GEMMs deterministic. cuBLAS reads the variable when the
# process creates its first handle (its first CUDA matmul), so it has no effect set any later.
CUBLAS_WORKSPACE = ":4096:8"

_determinism_configured = False
_cuda_faults: dict[str, str | None] = {}  # device -> why it cannot run a kernel (None: it can)
_warned: set[str] = set()


def seed_everything(seed: int) -> torch.Generator:
    """Seed Python, NumPy and torch; return a generator for batch order. torch seeds CUDA only
    once something initialises it, so a CPU job never starts CUDA here."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


def use_threads(threads: int) -> None:
    """torch's CPU threads for this job, with denormal floats flushed to zero first (threads
    started later inherit it). Training met denormals after a few epochs (in the optimiser's
    state of vanishing gradients, most likely) and ran at half speed from then on on a Xeon (470
    against 210 images/s; benchmarks/RESULTS.md); a value below 1e-38 changes no decision."""
    torch.set_flush_denormal(True)
    torch.set_num_threads(threads)


def stage_seed(seed: int, *parts) -> int:
    """A seed for one job, derived from the config seed and the job's identity."""
    words = [seed] + [zlib.crc32(str(p).encode()) for p in parts]
    return int(np.random.SeedSequence(words).generate_state(1)[0])


def configure_determinism(deterministic: bool = True, tf32: bool = False) -> None:
    """Ask torch for deterministic kernels (``compute.deterministic``) and set TF32
    (``compute.tf32``). Process-wide; call it before the first CUDA call of the job (select_device
    does), since the cuBLAS workspace variable only counts before then.

    On the CPU this changes no result: its kernels are deterministic already. On CUDA it makes
    cuBLAS, cuDNN and torch's own kernels deterministic where torch has a deterministic kernel
    (``warn_only``: an op without one warns in the job's log instead of stopping the run).
    TF32 rounds fp32 matmuls and convolutions to a 10-bit mantissa on sm80+: faster, not
    reproducible across cards, so off unless asked.
    """
    global _determinism_configured
    if deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", CUBLAS_WORKSPACE)
    torch.use_deterministic_algorithms(deterministic, warn_only=True)
    torch.backends.cudnn.deterministic = deterministic
    # without determinism cuDNN may time its kernels and keep the fastest, which varies by run
    torch.backends.cudnn.benchmark = not deterministic
    torch.backends.cuda.matmul.allow_tf32 = tf32
    torch.backends.cudnn.allow_tf32 = tf32
    _determinism_configured = True


def cuda_fault(device: torch.device) -> str | None:
    """Why CUDA cannot run a kernel on ``device`` (None when a tiny matmul runs there)."""
    key = str(device)
    if key not in _cuda_faults:
        _cuda_faults[key] = _probe_cuda(device)
    return _cuda_faults[key]


def _probe_cuda(device: torch.device) -> str | None:
    build = f"torch {torch.__version__}"
    if torch.version.cuda is None:
        return f"{build} is a CPU-only build"
    build = f"{build} built for CUDA {torch.version.cuda}"
    if not torch.cuda.is_available():
        driver = nvidia_driver()
        driver = f"this host's NVIDIA driver is {driver}" if driver else "no NVIDIA driver found"
        return f"{build} sees no usable GPU (none visible, or a driver too old for it: {driver})"
    try:
        ones = torch.ones(8, 8, device=device)
        if (ones @ ones).sum().item() != 512:
            raise RuntimeError("a test matmul gave a wrong result")
    except RuntimeError as error:  # e.g. "no kernel image is available for execution"
        return f"{build} cannot run on {card(device)}: {str(error).strip().splitlines()[0]}"
    return None


def card(device: torch.device) -> str:
    """A CUDA card's name and compute capability, e.g. ``Tesla V100-SXM2-16GB (sm_70)``, and
    the architectures this torch build has kernels for."""
    try:
        major, minor = torch.cuda.get_device_capability(device)
        name = torch.cuda.get_device_name(device)
    except (RuntimeError, AssertionError) as error:
        return f"a GPU torch cannot query ({error})"
    kernels = " ".join(torch.cuda.get_arch_list()) or "none"
    return f"{name} (sm_{major}{minor}; this build has kernels for {kernels})"


def resolve(compute) -> tuple[torch.device, Precision]:
    """The device and precision a job computes with, as its ``recipes.Compute`` asks."""
    device = select_device(compute.device)
    return device, Precision(device, compute.precision)


def select_device(compute="auto", *, gpu_granted: bool = False) -> torch.device:
    """The device a job runs on, checked with a tiny matmul.

    ``compute``: a ``recipes.Compute`` (its device; its determinism and TF32 settings are applied)
    or a device name (``auto``, ``cpu``, ``cuda``; determinism keeps what the job set, else the
    defaults). ``cuda`` that cannot run a kernel stops the job; ``auto`` then uses the CPU, and
    the job's ``environment`` records why (warned where a GPU is there). ``gpu_granted``: the
    scheduler reserved a GPU for this job (its ``gpu`` resource): where this host has one and the
    job ends up on the CPU, it warns that it holds a GPU it cannot use.
    """
    requested = compute if isinstance(compute, str) else compute.device
    if not isinstance(compute, str):
        configure_determinism(compute.deterministic, compute.tf32)
    elif not _determinism_configured:
        configure_determinism()
    if requested == "cpu":
        return torch.device("cpu")
    fault = cuda_fault(torch.device("cuda"))
    if fault is None:
        return torch.device("cuda")
    fix = "Install a torch build that fits this card and driver (README, 'Run it')"
    if requested == "cuda":
        raise RuntimeError(
            f"compute.device is 'cuda' but {fault}. {fix}, or set 'compute.device' to 'cpu' or "
            "'auto'"
        )
    note_auto_on_cpu(fault)
    if gpu_granted and (torch.cuda.is_available() or gpu_installed()):
        _warn_once(
            f"the scheduler holds a GPU for this job (its gpu resource) that it cannot use, so it "
            f"runs on the CPU: {fault}. {fix}, or set compute.device: cpu so that jobs reserve "
            "no GPU"
        )
    elif torch.cuda.is_available():
        _warn_once(f"CUDA is visible but unusable, so this job runs on the CPU: {fault}. {fix}")
    return torch.device("cpu")


def prepare_job(compute, *, gpu_granted: bool) -> None:
    """What a job that runs networks does first (``snakemake_job.start``): its determinism and TF32
    settings, before anything initialises CUDA; and where the scheduler granted it a GPU, the
    device check (a tiny matmul), so that an unusable GPU stops or warns at the job's start."""
    configure_determinism(compute.deterministic, compute.tf32)
    if gpu_granted:
        select_device(compute, gpu_granted=True)


def _warn_once(message: str) -> None:
    if message not in _warned:
        _warned.add(message)
        log.warning(message)


class Precision:
    """Autocast settings for a device. ``auto``: bf16 on CUDA sm80+ and on CPUs with native bf16,
    fp16 (with a gradient scaler) on older CUDA cards, fp32 elsewhere. ``fp16`` on the CPU falls
    back to fp32 with a warning: CPU fp16 autocast is slow and needs no scaler, which is what the
    option is for. ``name`` is the precision in effect."""

    def __init__(self, device: torch.device, requested: str = "auto"):
        self.device = device
        name = requested
        if requested == "auto":
            name = auto_precision(device)
        elif requested == "fp16" and device.type != "cuda":
            log.warning(
                "compute.precision 'fp16' is for CUDA cards; on the %s this job runs in fp32 "
                "('auto' picks bf16 where the CPU has it natively)",
                device.type,
            )
            name = "fp32"
        elif requested == "bf16" and device.type == "cuda" and capability(device) < (8, 0):
            log.warning(
                "compute.precision 'bf16' on a card before sm_80 runs slow fallback kernels "
                "(cuDNN has no bf16 convolutions there); 'auto' or 'fp16' is faster"
            )
        self.name = name
        self.dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(name)
        # on a CPU oneDNN's channels_last kernels are faster in fp32 as well
        self.channels_last = self.dtype is not None or device.type == "cpu"

    def autocast(self):
        if self.dtype is None:
            return nullcontext()
        return torch.autocast(self.device.type, dtype=self.dtype)

    def grad_scaler(self) -> torch.amp.GradScaler:
        """Loss scaling for fp16 (its small range underflows gradients without it); a disabled
        scaler otherwise, which passes the loss and the optimizer step through unchanged."""
        return torch.amp.GradScaler(self.device.type, enabled=self.name == "fp16")

    def prepare(self, module_or_tensor):
        """Move a model or an image batch to channels_last (on a CPU, or in mixed precision)."""
        if not self.channels_last:
            return module_or_tensor
        if isinstance(module_or_tensor, torch.Tensor) and module_or_tensor.dim() != 4:
            return module_or_tensor
        return module_or_tensor.to(memory_format=torch.channels_last)


def capability(device: torch.device) -> tuple[int, int]:
    return tuple(torch.cuda.get_device_capability(device))


def auto_precision(device: torch.device) -> str:
    if device.type == "cuda":
        return "bf16" if capability(device) >= (8, 0) else "fp16"
    return "bf16" if cpu_has_native_bf16() else "fp32"
