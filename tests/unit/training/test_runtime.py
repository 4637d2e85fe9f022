"""Seeds, device, precision and determinism of a job."""

import logging

import pytest
import torch

from latentbalance.settings.recipes import Compute
from latentbalance.training import environment, runtime
from latentbalance.training.checkpoint import EpochCheckpoint, rng_state
from latentbalance.training.runtime import (
    Precision,
    seed_everything,
    select_device,
    stage_seed,
    use_threads,
)

from helpers import train_resnet

CPU, CUDA = torch.device("cpu"), torch.device("cuda")
HAS_GPU = torch.cuda.is_available()


@pytest.fixture(autouse=True)
def fresh_job(monkeypatch):
    """Each test starts as a new job would: nothing probed, warned or configured yet; torch's
    process-wide flags and the cuBLAS variable are put back afterwards."""
    monkeypatch.setattr(runtime, "_cuda_faults", {})
    monkeypatch.setattr(runtime, "_warned", set())
    monkeypatch.setattr(runtime, "_determinism_configured", False)
    monkeypatch.setattr(environment, "_auto_on_cpu", None)
    monkeypatch.delenv("CUBLAS_WORKSPACE_CONFIG", raising=False)
    flags = deterministic_flags()
    yield
    torch.use_deterministic_algorithms(flags["algorithms"], warn_only=True)
    torch.backends.cudnn.deterministic = flags["cudnn"]
    torch.backends.cudnn.benchmark = flags["benchmark"]
    torch.backends.cuda.matmul.allow_tf32 = flags["tf32_matmul"]
    torch.backends.cudnn.allow_tf32 = flags["tf32_cudnn"]


def deterministic_flags() -> dict:
    return {
        "algorithms": torch.are_deterministic_algorithms_enabled(),
        "cudnn": torch.backends.cudnn.deterministic,
        "benchmark": torch.backends.cudnn.benchmark,
        "tf32_matmul": torch.backends.cuda.matmul.allow_tf32,
        "tf32_cudnn": torch.backends.cudnn.allow_tf32,
    }


def a_card(monkeypatch, capability=(7, 0), name="Tesla V100-SXM2-16GB", usable=True):
    """Make torch report a CUDA card of ``capability`` (a CUDA 13.0 build). Without a real GPU
    its kernels then fail, as on a card the build has no kernels for."""
    monkeypatch.setattr(torch.version, "cuda", "13.0")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: usable)
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: capability)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda device=None: name)


def test_one_seed_drives_every_generator_and_each_job_gets_its_own():
    generator = seed_everything(7)
    first = (torch.rand(3), torch.randperm(10, generator=generator))
    generator = seed_everything(7)
    again = (torch.rand(3), torch.randperm(10, generator=generator))
    assert all(torch.equal(a, b) for a, b in zip(first, again, strict=True))
    # a job's seed is a pure function of the config seed and the job, the same in every process
    # and release (no salted hash()): pinned, so that a rerun reproduces recorded results
    assert stage_seed(7, 0, "classifier", "resnet18") == 2764445928
    assert stage_seed(7, 0, "classifier") != stage_seed(7, 1, "classifier")
    assert stage_seed(7, 0, "classifier") != stage_seed(8, 0, "classifier")


def test_a_job_flushes_denormal_floats_to_zero_on_its_threads():
    """Denormals halved training speed after a few epochs; a job sets its threads and flushes
    them in one call."""
    before = torch.get_num_threads()
    try:
        use_threads(1)
        assert torch.get_num_threads() == 1
        assert torch.tensor([1e-40]).item() == 0.0  # a float32 denormal reads as zero
        assert (torch.tensor([1e-30]) * 1e-10).item() == 0.0  # and no product makes one
    finally:
        torch.set_flush_denormal(False)
        torch.set_num_threads(before)
    assert torch.tensor([1e-40]).item() != 0.0  # the default keeps them: the test can fail


def test_gpu_asked_without_one_names_the_key_the_build_and_the_driver(monkeypatch, tmp_path):
    """E.g. a CUDA 13 build on a host whose driver is older than 580."""
    a_card(monkeypatch, usable=False)
    driver = tmp_path / "version"
    driver.write_text("NVRM version: NVIDIA UNIX x86_64 Kernel Module  550.54.15  Tue Mar 5\n")
    monkeypatch.setattr(environment, "NVIDIA_DRIVER", driver)
    assert select_device("auto").type == "cpu"
    with pytest.raises(RuntimeError, match="compute.device is 'cuda' but torch .* CUDA 13.0 sees"):
        select_device("cuda")
    with pytest.raises(RuntimeError, match="NVIDIA driver is 550.54.15"):
        select_device("cuda")
    monkeypatch.setattr(torch.version, "cuda", None)
    monkeypatch.setattr(runtime, "_cuda_faults", {})
    with pytest.raises(RuntimeError, match="CPU-only build.*set 'compute.device' to 'cpu'"):
        select_device("cuda")


@pytest.mark.skipif(HAS_GPU, reason="kernels run on this machine's GPU")
def test_cuda_that_cannot_run_a_kernel_stops_cuda_and_sends_auto_to_the_cpu(monkeypatch, caplog):
    a_card(monkeypatch, capability=(7, 0))
    with pytest.raises(RuntimeError) as stopped:
        select_device(Compute("cuda", "auto"))
    message = str(stopped.value)
    assert "compute.device is 'cuda'" in message
    assert "built for CUDA 13.0 cannot run on Tesla V100-SXM2-16GB (sm_70" in message
    assert "Install a torch build" in message
    with caplog.at_level(logging.WARNING):
        assert select_device("auto") == CPU
    assert "CUDA is visible but unusable, so this job runs on the CPU" in caplog.text


def test_a_granted_gpu_the_job_cannot_use_is_reported(monkeypatch, caplog, tmp_path):
    """A job the scheduler gave a GPU, on a host whose driver lists one that torch cannot use,
    says so; on a host without any GPU (a laptop running the default) nothing is said."""
    a_card(monkeypatch, usable=False)
    monkeypatch.setattr(environment, "NVIDIA_GPUS", tmp_path)
    with caplog.at_level(logging.WARNING):
        assert select_device("auto", gpu_granted=True) == CPU
    assert caplog.text == ""
    (tmp_path / "0000:3b:00.0").mkdir()
    with caplog.at_level(logging.WARNING):
        assert select_device("auto", gpu_granted=True) == CPU
    assert "the scheduler holds a GPU for this job (its gpu resource) that it cannot use" in (
        caplog.text
    )
    assert "compute.device: cpu" in caplog.text


def test_auto_on_the_cpu_is_recorded_with_why_and_a_device_by_name_is_not(monkeypatch):
    """The run's end and the summary's environment.json say it, from each job's record."""
    monkeypatch.setattr(torch.version, "cuda", None)  # a CPU-only build, wherever this runs
    device = select_device("cpu")
    assert "cpu_fallback" not in environment.environment(device, Precision(device))
    device = select_device(Compute("auto", "fp32"))
    record = environment.environment(device, Precision(device, "fp32"))
    assert device == CPU
    assert record["cpu_fallback"] == f"torch {torch.__version__} is a CPU-only build"


def test_a_cpu_job_never_starts_cuda(monkeypatch, tmp_path):
    """Seeding, the device check and a checkpoint of a CPU job, on a host whose CUDA is there:
    starting CUDA would take memory on a GPU the job does not use."""
    if torch.cuda.is_initialized():
        pytest.skip("an earlier test in this process started CUDA")
    if not HAS_GPU:
        monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    runtime.prepare_job(Compute("cpu", "auto"), gpu_granted=False)
    generator = seed_everything(7)
    assert select_device("cpu") == CPU
    state = rng_state(generator)
    EpochCheckpoint(tmp_path / "checkpoint.pt", "job").save(epoch=1, rng=state)
    assert not torch.cuda.is_initialized()
    assert "cuda" not in state


@pytest.mark.skipif(not HAS_GPU, reason="needs a GPU")
def test_a_usable_gpu_is_selected_and_passes_the_check():
    assert select_device("cuda").type == "cuda"
    assert select_device("auto").type == "cuda"


def test_determinism_is_on_by_default_and_tf32_off(monkeypatch):
    torch.backends.cudnn.allow_tf32 = True  # torch's own default
    assert select_device("cpu") == CPU
    assert deterministic_flags() == {
        "algorithms": True,
        "cudnn": True,
        "benchmark": False,
        "tf32_matmul": False,
        "tf32_cudnn": False,
    }
    assert torch.is_deterministic_algorithms_warn_only_enabled()
    assert runtime.os.environ["CUBLAS_WORKSPACE_CONFIG"] == ":4096:8"


def test_a_jobs_compute_settings_hold_for_the_whole_job():
    """The job's start applies its config (here TF32 on, determinism off); the stage's later
    select_device by name keeps them."""
    runtime.prepare_job(Compute("cpu", "auto", deterministic=False, tf32=True), gpu_granted=False)
    select_device("cpu")
    flags = deterministic_flags()
    assert not flags["algorithms"] and not flags["cudnn"] and flags["benchmark"]
    assert flags["tf32_matmul"] and flags["tf32_cudnn"]
    assert "CUBLAS_WORKSPACE_CONFIG" not in runtime.os.environ


def test_deterministic_mode_changes_no_cpu_result():
    """The default run's numbers stay what they were: a small ResNet fit gives the same bytes
    with torch's deterministic algorithms on as off."""
    weights = {}
    for deterministic in (False, True):
        runtime.configure_determinism(deterministic)
        model, history = train_resnet(1)[:2]
        weights[deterministic] = ({k: v.clone() for k, v in model.state_dict().items()}, history)
    (off, off_history), (on, on_history) = weights[False], weights[True]
    assert off_history == on_history
    assert all(torch.equal(off[k], on[k]) for k in off)


@pytest.mark.parametrize(
    "capability, expected",
    [((7, 5), "fp16"), ((7, 0), "fp16"), ((8, 0), "bf16"), ((8, 6), "bf16"), ((9, 0), "bf16")],
)
def test_auto_precision_follows_the_cards_compute_capability(monkeypatch, capability, expected):
    """cuDNN has no bf16 convolutions before sm80 (T4, V100, RTX 20xx): fp16 with loss scaling
    there; bf16 from Ampere on."""
    a_card(monkeypatch, capability=capability)
    precision = Precision(CUDA, "auto")
    assert precision.name == expected
    assert precision.dtype == {"fp16": torch.float16, "bf16": torch.bfloat16}[expected]
    assert precision.channels_last
    assert precision.grad_scaler().is_enabled() == (expected == "fp16")


@pytest.mark.parametrize("flags, expected", [("fpu sse avx512_bf16", "bf16"), ("fpu sse", "fp32")])
def test_auto_precision_on_a_cpu_follows_its_native_bf16(monkeypatch, tmp_path, flags, expected):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text(f"model name\t: Some CPU\nflags\t\t: {flags}\n")
    monkeypatch.setattr(environment, "CPUINFO", cpuinfo)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert Precision(select_device("auto"), "auto").name == expected


def test_fp16_on_a_cpu_runs_in_fp32_and_says_so(caplog):
    with caplog.at_level(logging.WARNING):
        precision = Precision(CPU, "fp16")
    assert precision.name == "fp32" and precision.dtype is None
    assert "compute.precision 'fp16' is for CUDA cards" in caplog.text


def test_bf16_asked_on_an_old_card_warns_that_it_is_slow(monkeypatch, caplog):
    a_card(monkeypatch, capability=(7, 5))
    with caplog.at_level(logging.WARNING):
        assert Precision(CUDA, "bf16").name == "bf16"
    assert "before sm_80" in caplog.text


def test_the_grad_scaler_passes_through_unless_fp16():
    """A training loop calls scale/step/update on every precision; outside fp16 they change
    nothing, so a CPU fit keeps its numbers."""
    layer = torch.nn.Linear(3, 1)
    optimizer = torch.optim.SGD(layer.parameters(), lr=0.1)
    before = layer.weight.detach().clone()
    scaler = Precision(CPU, "bf16").grad_scaler()
    assert not scaler.is_enabled()
    loss = layer(torch.ones(2, 3)).sum()
    assert scaler.scale(loss) is loss
    scaler.scale(loss).backward()
    scaler.step(optimizer)
    scaler.update()
    assert torch.equal(layer.weight, before - 0.1 * torch.full((1, 3), 2.0))


def test_fp32_autocasts_nothing_and_bf16_autocasts_to_bfloat16():
    layer = torch.nn.Linear(4, 4)
    with Precision(CPU, "fp32").autocast():
        assert layer(torch.rand(2, 4)).dtype == torch.float32
    bf16 = Precision(CPU, "bf16")
    with bf16.autocast():
        assert layer(torch.rand(2, 4)).dtype == torch.bfloat16
    assert bf16.prepare(torch.rand(2, 3, 4, 4)).is_contiguous(memory_format=torch.channels_last)
    assert bf16.prepare(torch.rand(2, 4)).is_contiguous()  # only image batches change layout
