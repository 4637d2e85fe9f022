"""What a result was computed with, as recorded in every model.pt and metrics.json."""

import json

import pytest
import torch

from latentbalance.training import environment as env_module
from latentbalance.training import runtime
from latentbalance.training.environment import cudnn_version, environment, nvidia_driver
from latentbalance.training.runtime import Precision

VERSIONS = ["python", "latentbalance", "torch", "torchvision", "numpy", "scikit-learn", "pandas"]


@pytest.fixture(autouse=True)
def torch_flags():
    """Put torch's process-wide determinism and TF32 flags back after each test."""
    saved = (
        torch.are_deterministic_algorithms_enabled(),
        torch.backends.cudnn.deterministic,
        torch.backends.cudnn.benchmark,
        torch.backends.cuda.matmul.allow_tf32,
        torch.backends.cudnn.allow_tf32,
    )
    yield
    torch.use_deterministic_algorithms(saved[0], warn_only=True)
    torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = saved[1:3]
    torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved[3:]


def test_a_cpu_result_records_the_cpu_its_bf16_and_threads(monkeypatch, tmp_path):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text(
        "processor\t: 0\nmodel name\t: Intel(R) Xeon(R) Platinum 8480+\n"
        "flags\t\t: fpu avx512f amx_bf16\n"
    )
    monkeypatch.setattr(env_module, "CPUINFO", cpuinfo)
    runtime.configure_determinism()
    cpu = torch.device("cpu")
    record = environment(cpu, Precision(cpu, "auto"))
    assert all(record[name] for name in VERSIONS)
    assert record["device"] == "cpu" and record["precision"] == "bf16"
    assert record["cpu"] == "Intel(R) Xeon(R) Platinum 8480+"
    assert record["cpu_native_bf16"] is True
    assert record["threads"] == torch.get_num_threads()
    assert record["deterministic"] is True
    assert "gpu" not in record
    json.dumps(record)  # it is written into metrics.json


def test_a_cuda_result_records_the_card_and_what_it_computed_with(monkeypatch, tmp_path):
    driver = tmp_path / "version"
    driver.write_text(
        "NVRM version: NVIDIA UNIX Open Kernel Module for x86_64  580.65.06  Release Build\n"
        "GCC version:  gcc version 12.2.0\n"
    )
    monkeypatch.setattr(env_module, "NVIDIA_DRIVER", driver)
    monkeypatch.setattr(torch.version, "cuda", "13.0")
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: (8, 6))
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda device=None: "NVIDIA RTX A4000")
    monkeypatch.setattr(torch.backends.cudnn, "version", lambda: 91002)
    runtime.configure_determinism(deterministic=True, tf32=True)
    cuda = torch.device("cuda")
    record = environment(cuda, Precision(cuda, "auto"))
    assert record["device"] == "cuda" and record["precision"] == "bf16"
    assert record["gpu"] == "NVIDIA RTX A4000"
    assert record["compute_capability"] == "8.6"
    assert (record["cuda"], record["cudnn"], record["driver"]) == ("13.0", "9.10.2", "580.65.06")
    assert record["tf32_matmul"] is True and record["tf32_cudnn"] is True
    assert record["deterministic"] is True and record["cudnn_deterministic"] is True
    assert all(record[name] for name in VERSIONS)
    assert "cpu" not in record
    json.dumps(record)


def test_why_auto_ran_on_the_cpu_is_found_in_a_summarys_environment():
    """environment.json: the distinct environments of the metrics files, each with its models."""
    fallback = "torch 2.14.1+cpu is a CPU-only build"
    summary = [
        {"environment": {"training": {"device": "cpu"}, "evaluation": {"device": "cpu"}}},
        {
            "environment": {
                "training": {"device": "cpu", "cpu_fallback": fallback},
                "evaluation": {"device": "cpu", "cpu_fallback": fallback},
            },
            "models": ["fold0/none/resnet18/test"],
        },
    ]
    assert env_module.cpu_fallbacks([summary, summary]) == {fallback}
    assert env_module.cpu_fallbacks(summary[:1]) == set()


def test_version_texts():
    assert cudnn_version(8902) == "8.9.2"
    assert cudnn_version(91002) == "9.10.2"
    assert cudnn_version(None) is None


def test_the_driver_version_from_either_kernel_module(monkeypatch, tmp_path):
    driver = tmp_path / "version"
    monkeypatch.setattr(env_module, "NVIDIA_DRIVER", driver)
    assert nvidia_driver() is None  # no NVIDIA driver on this host
    driver.write_text("NVRM version: NVIDIA UNIX x86_64 Kernel Module  535.104.05  Sat Aug 19\n")
    assert nvidia_driver() == "535.104.05"
