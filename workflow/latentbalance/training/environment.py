"""What a result was computed with: library versions and the device, recorded beside every model
and every metrics file, so that a rerun months later can tell why a number moved: on CUDA the card,
its compute capability, the CUDA, cuDNN and driver versions and whether TF32 and deterministic
kernels were on; on a CPU its model, whether it has native bf16 and, where ``compute.device: auto``
chose it, why no GPU was used."""

from __future__ import annotations

import platform
import re
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

# What the job reads of its host; module constants, so that tests can point them elsewhere.
CPUINFO = Path("/proc/cpuinfo")
# The NVIDIA kernel module's version line, e.g. "... Kernel Module  580.65.06  Sun Jul 27 ..."
NVIDIA_DRIVER = Path("/proc/driver/nvidia/version")
# One entry per GPU the NVIDIA driver knows, whether or not this torch build can use it
NVIDIA_GPUS = Path("/proc/driver/nvidia/gpus")

# Why ``compute.device: auto`` runs this job on the CPU, once runtime.select_device has found it
# out (None: it did not, or the job asked for a device by name).
_auto_on_cpu: str | None = None

PACKAGES = [
    "latentbalance",
    "torch",
    "torchvision",
    "numpy",
    "scikit-learn",
    "imbalanced-learn",
    "pandas",
    "snakemake",
]


def library_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for package in PACKAGES:
        try:
            versions[package] = version(package)
        except PackageNotFoundError:
            versions[package] = "not installed"
    return versions


def environment(device, precision) -> dict:
    """Versions plus where and how a network ran (``device``: torch.device, ``precision``: the
    Precision in effect)."""
    import torch

    details = cuda_details(device) if device.type == "cuda" else cpu_details()
    fallback = {"cpu_fallback": _auto_on_cpu} if device.type == "cpu" and _auto_on_cpu else {}
    return {
        **library_versions(),
        "device": str(device),
        **fallback,
        "precision": precision.name,
        **details,
        "threads": torch.get_num_threads(),
        "deterministic": torch.are_deterministic_algorithms_enabled(),
    }


def note_auto_on_cpu(reason: str) -> None:
    """Record, for this job's ``environment``, why ``compute.device: auto`` runs it on the CPU."""
    global _auto_on_cpu
    _auto_on_cpu = reason


def cpu_fallbacks(record) -> set[str]:
    """Every reason a record (an ``environment``, a metrics file's, a summary's environment.json,
    nested at any depth) gives for ``compute.device: auto`` running networks on the CPU."""
    if isinstance(record, dict):
        found = {record["cpu_fallback"]} if record.get("cpu_fallback") else set()
        return found.union(*(cpu_fallbacks(value) for value in record.values()))
    if isinstance(record, list):
        return set().union(*(cpu_fallbacks(value) for value in record))
    return set()


def driver_gpus() -> list[str]:
    """The GPUs the NVIDIA driver lists on this host (their bus ids), whether or not torch can use
    them; read without initialising CUDA."""
    try:
        return sorted(entry.name for entry in NVIDIA_GPUS.iterdir())
    except OSError:
        return []


def gpu_installed() -> bool:
    """Whether the NVIDIA driver lists a GPU on this host (whether or not torch can use it)."""
    return bool(driver_gpus())


def cpu_flags() -> str:
    """The host's /proc/cpuinfo (its model name and flags); empty where there is none."""
    try:
        return CPUINFO.read_text()
    except OSError:
        return ""


def cpu_has_native_bf16() -> bool:
    """Whether the CPU computes bfloat16 natively (AVX-512 BF16 or AMX), where bf16 autocast is
    faster than fp32."""
    flags = cpu_flags()
    return "avx512_bf16" in flags or "amx_bf16" in flags


def cpu_details() -> dict:
    model = re.search(r"^model name\s*:\s*(.+)$", cpu_flags(), re.MULTILINE)
    return {
        "cpu": model.group(1).strip() if model else platform.processor() or platform.machine(),
        "cpu_native_bf16": cpu_has_native_bf16(),
    }


def cuda_details(device) -> dict:
    import torch

    major, minor = torch.cuda.get_device_capability(device)
    return {
        "gpu": torch.cuda.get_device_name(device),
        "compute_capability": f"{major}.{minor}",
        "cuda": torch.version.cuda,
        "cudnn": cudnn_version(torch.backends.cudnn.version()),
        "driver": nvidia_driver(),
        "tf32_matmul": torch.backends.cuda.matmul.allow_tf32,
        "tf32_cudnn": torch.backends.cudnn.allow_tf32,
        "cudnn_deterministic": torch.backends.cudnn.deterministic,
    }


def cudnn_version(number: int | None) -> str | None:
    """torch's cuDNN version number as text: 91002 -> 9.10.2 (cuDNN 9), 8902 -> 8.9.2 (cuDNN 8)."""
    if number is None:
        return None
    major, rest = divmod(number, 10000) if number >= 90000 else divmod(number, 1000)
    return f"{major}.{rest // 100}.{rest % 100}"


def nvidia_driver() -> str | None:
    """The NVIDIA driver's version (torch does not expose it), where the driver says it."""
    try:
        found = re.search(
            r"Kernel Module\s+(?:for \S+\s+)?(\d+(?:\.\d+)+)", NVIDIA_DRIVER.read_text()
        )
    except OSError:
        found = None
    return found.group(1) if found else None
