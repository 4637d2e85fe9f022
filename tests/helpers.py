"""What the tests share: the tiny workflow config and the builders around the real command lines
(Snakemake, ``latentbalance``), the local SLURM scripts' helpers, image trees written the way users
and MVTec lay them out, MNIST idx files, and two small fits that draw random numbers in their loop.

Image trees: good parts are a bright disc (a bottle seen from above); defective ones carry a dark
crack or blotch, so a classifier has something real to learn.
"""

from __future__ import annotations

import gzip
import importlib.util
import os
import shutil
import socket
import struct
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import yaml
from filelock import FileLock
from PIL import Image, ImageDraw

REPO = Path(__file__).resolve().parents[1]

# --- the workflow and its command lines -----------------------------------------------------------

# A tiny run: scikit-learn digits (8x8), 2 folds, one epoch or two. Minutes on 2 cores.
TINY_CONFIG = {
    "seed": 7,
    "datasets": {
        "digits": {
            "source": "digits",
            "test_fraction": 0.2,
            "imbalance": {"ratio": 10, "max_per_class": 60},
        }
    },
    "folds": 2,
    "methods": ["none", "smote-ae"],
    "architectures": ["resnet18"],
    "testsets": ["test", "test_imbalanced", "holdout"],
    "autoencoder": {"epochs": 2, "batch_size": 32, "latent_dim": 16},
    "classifier": {"stem": "small", "epochs": 3, "batch_size": 32, "patience": 5},
    "compute": {"threads": 1},
}


# the rivals on the tiny workflow's fold 0 (tests/workflow/test_rivals.py)
LOSSES = ["la-loss", "ldam-drw", "mixup-drw", "remix-drw"]
HEADED = ["none@crt", "none@smote-feat", "none@eos", "ros@crt", "ldam-drw@eos", "smote-ae@eos"]
RIVALS = {
    **TINY_CONFIG,
    "run_folds": [0],
    "methods": ["none", *LOSSES, *HEADED],
    "testsets": ["test", "holdout"],
    # none trains epochs of its own, as the FashionMNIST-LT rivals' overlay gives the methods
    # that train on the imbalanced set
    "classifier": {**TINY_CONFIG["classifier"], "epochs": 2, "by_method": {"none": {"epochs": 3}}},
    "heads": {"epochs": 3},
    "evaluate": {"logit_adjustment": 1},
}


def unreachable_address() -> str:
    """An address on this machine where nothing listens: a download from it fails at once, the
    way it does without internet."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def without_internet(monkeypatch) -> None:
    """Route this process's and its children's downloads through an unreachable proxy (urllib
    reads the proxy variables), so that a download fails here even where there is internet."""
    for name in ("no_proxy", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)
    for name in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY"):
        monkeypatch.setenv(name, unreachable_address())
    import urllib.request

    monkeypatch.setattr(urllib.request, "_opener", None)  # urlopen caches its proxies


def copy_workflow(destination: Path) -> Path:
    """A fresh copy of the workflow (Snakefile, rules, scripts, schema, profile, config)."""
    shutil.copy(REPO / "Snakefile", destination / "Snakefile")
    shutil.copytree(
        REPO / "workflow",
        destination / "workflow",
        ignore=shutil.ignore_patterns("__pycache__", "latentbalance"),
    )
    shutil.copytree(REPO / "config", destination / "config")
    shutil.copytree(REPO / "envs", destination / "envs")
    shutil.copytree(REPO / "profiles", destination / "profiles")
    return destination


def write_config(path: Path, config: dict) -> Path:
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def run_once_per_session(tmp_path_factory, worker_id: str, name: str, config: dict):
    """The workflow run on ``config`` once per test session, in a folder ``name`` that every
    pytest-xdist worker shares: the first to ask runs it, the others wait for it (a fixture of
    module or session scope runs once per worker, so each worker would run it again).
    Returns (workdir, config path, snakemake's output); tests must not change its results."""
    shared = tmp_path_factory.getbasetemp()
    if worker_id != "master":
        shared = shared.parent  # this session's folder, common to its workers
    workdir, finished = shared / name, shared / f"{name}.finished"
    with FileLock(shared / f"{name}.lock"):
        if not finished.exists():
            shutil.rmtree(workdir, ignore_errors=True)
            workdir.mkdir()
            copy_workflow(workdir)
            path = write_config(workdir / f"{name}.yaml", config)
            result = snakemake(workdir, "--configfile", str(path))
            finished.write_text(result.stdout + result.stderr)
    return workdir, workdir / f"{name}.yaml", finished.read_text()


def snakemake(workdir: Path, *args: str, check: bool = True, timeout: int = 900):
    """Run the real snakemake command line in ``workdir``."""
    command = [sys.executable, "-m", "snakemake", "--cores", "2", *args]
    result = subprocess.run(command, cwd=workdir, capture_output=True, text=True, timeout=timeout)
    if check and result.returncode != 0:
        raise AssertionError(
            f"{' '.join(command)} failed ({result.returncode}):\n{result.stdout[-4000:]}\n"
            f"{result.stderr[-6000:]}"
        )
    return result


def latentbalance(*args, cwd):
    """The real command line (``python -m latentbalance`` = the ``latentbalance`` script)."""
    env = {**os.environ, "PYTHONPATH": str(REPO / "workflow")}
    return subprocess.run(
        [sys.executable, "-m", "latentbalance", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )


def planned_jobs(dry_run_output: str) -> dict[str, int]:
    """The job-count table of a dry run: rule -> count."""
    counts, in_table = {}, False
    for line in dry_run_output.splitlines():
        parts = line.split()
        if parts[:2] == ["job", "count"]:
            in_table = True
            continue
        if in_table:
            if not parts or parts[0].startswith("-"):
                continue
            if parts[0] == "total":
                break
            counts[parts[0]] = int(parts[1])
    return counts


# --- the local SLURM cluster of tests/slurm -------------------------------------------------------

SLURM_SCRIPTS = REPO / "tests" / "slurm"
SLURM_CONF = Path("/etc/slurm/slurm.conf")


def slurm_started_marker() -> Path:
    return Path(os.environ["LATENTBALANCE_TEST_STATE"]) / "slurm-started"


def run_slurm_script(name: str, timeout: int) -> tuple[subprocess.CompletedProcess, float]:
    """Run tests/slurm/<name>: its result and the seconds it took."""
    began = time.monotonic()
    result = subprocess.run(
        ["bash", str(SLURM_SCRIPTS / name)], capture_output=True, text=True, timeout=timeout
    )
    return result, time.monotonic() - began


def slurmctld_running() -> bool:
    """By its pid file, as start-local-slurm.sh and stop-local-slurm.sh track it."""
    try:
        pid = Path("/run/slurmctld.pid").read_text().strip()
        return Path(f"/proc/{pid}/comm").read_text().strip() == "slurmctld"
    except (OSError, ValueError):
        return False


def restart_our_stopped_slurm():
    """Start the test cluster again if an earlier test session left it configured but stopped.

    In that state every snakemake command of the suite (about 70) waits ~9 s at start-up: the SLURM
    plugin's import runs `scontrol show config`, which retries until its MessageTimeout when no
    controller answers (stop-local-slurm.sh now sets MessageTimeout=1 in a stopped cluster's
    config; one stopped by an older version lacks it). Starting the cluster takes ~3 s once
    installed; pytest_sessionfinish stops it again. Best effort: a failure here is left for
    test_slurm.py to report."""
    if os.geteuid() != 0 or not SLURM_CONF.exists() or slurmctld_running():
        return
    if "start-local-slurm.sh" not in SLURM_CONF.read_text().partition("\n")[0]:
        return  # somebody else's SLURM: not ours to start
    slurm_started_marker().touch()
    result, seconds = run_slurm_script("start-local-slurm.sh", timeout=300)
    state = "ready" if result.returncode == 0 else f"failed ({result.returncode})"
    print(f"restarted the local SLURM left by an earlier session: {state}, {seconds:.1f} s")


# --- image trees ----------------------------------------------------------------------------------

CIFAR_NAMES = [
    "airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck",
]  # fmt: skip


def part_picture(rng: np.random.Generator, size: int, defect: str | None) -> Image.Image:
    """An RGB picture of a part; ``defect`` None, 'crack' or 'blotch'."""
    noise = rng.integers(0, 40, (size, size, 3), dtype=np.uint8)
    image = Image.fromarray(noise, "RGB")
    draw = ImageDraw.Draw(image)
    margin = size // 8 + int(rng.integers(0, max(1, size // 16)))
    draw.ellipse([margin, margin, size - margin, size - margin], fill=(200, 170, 90))
    if defect == "crack":
        start = rng.integers(size // 3, size // 2, 2)
        end = start + rng.integers(size // 6, size // 3, 2)
        draw.line([tuple(start), tuple(end)], fill=(20, 10, 10), width=max(2, size // 12))
    elif defect == "blotch":
        centre = rng.integers(size // 3, 2 * size // 3, 2)
        radius = max(2, size // 8)
        box = [*(centre - radius), *(centre + radius)]
        draw.ellipse([int(v) for v in box], fill=(60, 90, 30))
    return image


def write_pictures(folder: Path, count: int, size=(12, 12), mode="RGB") -> None:
    """``count`` plain pictures of one colour each, as PNG files."""
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        Image.new(mode, size, tuple([30 * i % 256] * len(mode))).save(folder / f"{i}.png")


def write_mvtec_tree(
    root: Path,
    category: str = "bottle",
    train_good: int = 30,
    test_good: int = 6,
    defects: dict[str, int] | None = None,
    size: int = 40,
    seed: int = 0,
) -> Path:
    """MVTec AD's official layout: <category>/train/good, test/good, test/<defect type>,
    ground_truth/<defect type>/*_mask.png (which the loader must not read as images)."""
    defects = defects if defects is not None else {"broken_large": 4, "contamination": 4}
    rng = np.random.default_rng(seed)
    base = root / category
    folders = {
        base / "train" / "good": (train_good, None),
        base / "test" / "good": (test_good, None),
    }
    for k, (name, count) in enumerate(defects.items()):
        folders[base / "test" / name] = (count, ("crack", "blotch")[k % 2])
    for folder, (count, defect) in folders.items():
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(count):
            part_picture(rng, size, defect).save(folder / f"{i:03d}.png")
    for name, count in defects.items():
        masks = base / "ground_truth" / name
        masks.mkdir(parents=True, exist_ok=True)
        for i in range(count):
            Image.new("L", (size, size), 255).save(masks / f"{i:03d}_mask.png")
    (base / "license.txt").write_text("synthetic test pictures\n")
    return base


def write_messy_folder(root: Path, seed: int = 0, corrupt: bool = True) -> dict[str, int]:
    """An ImageFolder a user might have: class 'good part' (a space in the name) and 'scratch',
    PNG and JPEG, grey, RGB, RGBA, palette and 16-bit images of different sizes, nested
    subfolders, a notes file, and (``corrupt``) one file with an image suffix that is not an
    image. Returns the number of real images per class."""
    rng = np.random.default_rng(seed)
    counts = {"good part": 0, "scratch": 0}
    modes = ["RGB", "L", "RGBA", "P", "I;16"]
    for cls, defect in (("good part", None), ("scratch", "crack")):
        n = 14 if defect is None else 6
        for i in range(n):
            size = (24, 32, 40)[i % 3]
            picture = part_picture(rng, size, defect)
            mode = modes[i % len(modes)]
            folder = root / cls / ("batch2/line a" if i % 2 else "")
            folder.mkdir(parents=True, exist_ok=True)
            if mode == "I;16":
                grey = np.asarray(picture.convert("L"), dtype=np.uint16) * 257
                Image.fromarray(grey).save(folder / f"img{i}.png")  # 16-bit greyscale PNG
            elif mode == "P":
                picture.convert("P", palette=Image.Palette.ADAPTIVE).save(folder / f"img{i}.bmp")
            elif mode == "RGBA":
                picture.convert("RGBA").save(folder / f"img{i}.png")
            elif i % 4 == 0:
                picture.convert(mode).save(folder / f"img{i}.jpg", quality=90)
            else:
                picture.convert(mode).save(folder / f"img{i}.PNG")
            counts[cls] += 1
    (root / "good part" / "notes.txt").write_text("taken on line A\n")
    # hidden: a macOS resource fork (not an image) and a notebook's checkpoint copy
    (root / "good part" / "._img0.png").write_bytes(b"\x00\x05\x16\x07")
    (root / "good part" / ".ipynb_checkpoints").mkdir()
    picture.save(root / "good part" / ".ipynb_checkpoints" / "img2-checkpoint.png")
    if corrupt:
        (root / "scratch" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"truncated")
    return counts


def foolbox_cifar_pngs() -> list[Path]:
    """The 20 real CIFAR-10 test images in PyPI foolbox's data/ (cifar10_<nn>_<label>.png),
    found without importing foolbox (it needs eagerpy, which we do not install)."""
    spec = importlib.util.find_spec("foolbox")
    if spec is None:
        return []
    return sorted(Path(spec.submodule_search_locations[0], "data").glob("cifar10_*.png"))


def write_foolbox_cifar_folder(root: Path) -> list[Path]:
    """The real CIFAR-10 PNGs as a 2-class folder dataset: vehicles vs animals (10 each)."""
    pngs = foolbox_cifar_pngs()
    for png in pngs:
        label = int(png.stem.split("_")[-1])
        cls = "vehicle" if label in (0, 1, 8, 9) else "animal"
        (root / cls / CIFAR_NAMES[label]).mkdir(parents=True, exist_ok=True)
        (root / cls / CIFAR_NAMES[label] / png.name).write_bytes(png.read_bytes())
    return pngs


# --- MNIST idx files ------------------------------------------------------------------------------


def write_idx(path: Path, array: np.ndarray) -> None:
    """The MNIST idx format: magic (0, 0, dtype 0x08 = ubyte, ndim), big-endian sizes, bytes."""
    header = struct.pack(">BBBB", 0, 0, 0x08, array.ndim)
    header += struct.pack(f">{array.ndim}I", *array.shape)
    with gzip.open(path, "wb") as handle:
        handle.write(header + array.astype(np.uint8).tobytes())


# --- two small fits (fp32, CPU) for the training loop and its checkpoints -------------------------


def images_and_labels(n=48, classes=3, seed=0):
    import torch

    generator = torch.Generator().manual_seed(seed)
    images = torch.rand(n, 1, 8, 8, generator=generator) * 2 - 1
    return images, torch.arange(n) % classes


def train_vae(epochs, checkpoint=None):
    """A VAE with DeepSMOTE's penalty: both draw random numbers inside the loop."""
    import torch

    from latentbalance.nets.autoencoders import build_autoencoder
    from latentbalance.settings.recipes import AutoencoderRecipe
    from latentbalance.training.loop import FitRun, fit_autoencoder
    from latentbalance.training.runtime import Precision, seed_everything

    images, labels = images_and_labels()
    generator = seed_everything(3)
    model = build_autoencoder("vae", 1, (8, 8), 4, width=4)
    recipe = AutoencoderRecipe.from_config(
        {"epochs": epochs, "batch_size": 16, "lr": 0.01, "kl_weight": 0.1}
        | {"penalty_kind": "paper", "penalty_weight": 1.0}
    )
    cpu = torch.device("cpu")
    return fit_autoencoder(
        model,
        images[:40],
        labels[:40],
        images[40:],
        recipe,
        FitRun(generator, Precision(cpu, "fp32"), checkpoint),
        penalty=True,
    )


def train_resnet(epochs, checkpoint=None, patience=5):
    """A small ResNet, SGD at a constant rate, on random images."""
    import torch

    from latentbalance.nets.classifiers import build_resnet
    from latentbalance.settings.recipes import ClassifierRecipe
    from latentbalance.training.loop import FitRun, fit_classifier
    from latentbalance.training.runtime import Precision, seed_everything

    images, labels = images_and_labels()
    generator = seed_everything(5)
    model = build_resnet("resnet18", 1, 3, "small")
    recipe = ClassifierRecipe.from_config(
        {"stem": "small", "epochs": epochs, "batch_size": 16, "lr": 0.01, "weight_decay": 1e-4}
        | {"optimizer": "sgd", "schedule": "constant", "patience": patience}
    )
    cpu = torch.device("cpu")
    return fit_classifier(
        model,
        images[:40],
        labels[:40],
        images[40:],
        labels[40:],
        recipe,
        FitRun(generator, Precision(cpu, "fp32"), checkpoint),
        n_classes=3,
    )


def assert_same_weights(a, b):
    import torch

    for (name, x), (_, y) in zip(a.state_dict().items(), b.state_dict().items(), strict=True):
        assert torch.equal(x, y), name


# --- ImageNet weights in torchvision's format -----------------------------------------------------


def write_imagenet_weights(torch_home: Path, arch: str = "resnet18", seed: int = 0) -> dict:
    """A real torchvision ``arch`` (ImageNet's 1000 classes, seeded random weights) saved as
    torchvision's weights file in the torch hub cache under ``torch_home``, where
    ``classifier.weights: imagenet`` reads it. Returns its state dict."""
    import torch
    from torchvision import models

    torch.manual_seed(seed)
    state = getattr(models, arch)(weights=None).state_dict()
    weights = models.get_model_weights(arch).IMAGENET1K_V1
    folder = torch_home / "hub" / "checkpoints"
    folder.mkdir(parents=True, exist_ok=True)
    torch.save(state, folder / Path(weights.url).name)
    return state
