"""The benchmark scripts: the memory summary of a run, read from the files of every rule's
``benchmark:`` directive; the FashionMNIST-LT table; speed.py's placement of both loops on the
device asked; the GPU check in its CPU smoke mode; the pooled verdict; recipe_screen.py's three
screens on the holdouts (config overlays, evaluation settings, heads' settings)."""

import importlib.util
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import yaml
from torch.nn.modules.module import register_module_forward_pre_hook
from torch.optim import optimizer as optimizer_module
from torch.optim.optimizer import register_optimizer_step_pre_hook
from torch.utils._python_dispatch import TorchDispatchMode

from latentbalance.training.runtime import Precision

from helpers import REPO, TINY_CONFIG, copy_workflow, snakemake, write_config

RULES = {
    "download",
    "split",
    "folds",
    "train_autoencoder",
    "oversample",
    "train_classifier",
    "evaluate",
    "summarize",
}


def memory_summary(results, *args, cwd=None):
    return subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "memory.py"), str(results), *args],
        capture_output=True,
        text=True,
        cwd=cwd,
    )


def test_every_rule_records_its_peak_memory(tiny_run, tmp_path):
    workdir, _, _ = tiny_run
    summary = memory_summary(workdir / "results" / "digits", "--out", str(tmp_path / "memory.csv"))
    assert summary.returncode == 0, summary.stderr
    table = pd.read_csv(tmp_path / "memory.csv", index_col="rule")
    assert set(table.index) == RULES
    # 2 folds x 2 methods: one evaluation job per classifier covers its 3 test sets
    assert table.loc["evaluate", "jobs"] == 4
    assert table.loc["train_classifier", "jobs"] == 4
    # a torch job holds at least the interpreter and torch: tens of MB, never zero
    assert (table.loc[["train_classifier", "train_autoencoder"], "peak_rss_mb"] > 50).all()
    assert "train_classifier" in summary.stdout and "heaviest job:" in summary.stdout


def test_rules_over_the_memory_limit_are_named_and_fail(tiny_run):
    workdir, _, _ = tiny_run
    summary = memory_summary(workdir / "results" / "digits", "--limit-mb", "1")
    assert summary.returncode == 1
    assert "rule train_classifier peaked at" in summary.stderr
    assert "over the 1 MB target" in summary.stderr


def test_a_run_without_benchmark_files_is_an_error(tmp_path):
    summary = memory_summary(tmp_path)
    assert summary.returncode != 0
    assert "no benchmark files under" in summary.stderr


def test_files_of_jobs_the_workflow_no_longer_has_are_left_out(tiny_run, tmp_path):
    """Snakemake never deletes a benchmark file: a results folder keeps those of removed rules."""
    workdir, config, _ = tiny_run
    copy_workflow(tmp_path)
    shutil.copy(config, tmp_path / "tiny.yaml")
    benchmarks = tmp_path / "results" / "digits" / "benchmarks"
    shutil.copytree(workdir / "results" / "digits" / "benchmarks", benchmarks)
    evaluate = next((benchmarks / "fold0" / "evaluate").glob("*.tsv"))
    (benchmarks / "fold0" / "old_rule").mkdir()
    shutil.copy(evaluate, benchmarks / "fold0" / "old_rule" / "smote.tsv")
    shutil.copy(evaluate, evaluate.with_name("none-resnet18-test.tsv"))  # an old per-test-set job

    everything = memory_summary(benchmarks.parent, "--out", "all.csv", cwd=tmp_path)
    assert everything.returncode == 0, everything.stderr
    assert set(pd.read_csv(tmp_path / "all.csv", index_col="rule").index) == RULES | {"old_rule"}

    summary = memory_summary(
        benchmarks.parent, "--configfile", "tiny.yaml", "--out", "current.csv", cwd=tmp_path
    )
    assert summary.returncode == 0, summary.stderr
    table = pd.read_csv(tmp_path / "current.csv", index_col="rule")
    assert set(table.index) == RULES
    assert table.loc["evaluate", "jobs"] == 4
    assert "left out 2 jobs not in this workflow" in summary.stderr
    assert "fold0/old_rule/smote" in summary.stderr


def test_a_config_that_does_not_match_the_results_is_an_error(tiny_run, tmp_path):
    workdir, _, _ = tiny_run
    summary = memory_summary(
        workdir / "results" / "digits", "--configfile", "config/config.yaml", cwd=workdir
    )
    assert summary.returncode != 0
    assert "none of the benchmark files under" in summary.stderr
    assert "pass the config files the run used (--configfile)" in summary.stderr


def fmnist_lt_table(source, *options):
    return subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "fmnist_lt_table.py"), str(source), *options],
        capture_output=True,
        text=True,
    )


def test_published_table_from_a_cut_short_run_counts_only_the_finished_folds(tiny_run, tmp_path):
    workdir, _, _ = tiny_run
    results = tmp_path / "digits"
    shutil.copytree(workdir / "results" / "digits", results)
    from_summary = fmnist_lt_table(results / "summary" / "metrics_per_fold.csv")
    from_evaluations = fmnist_lt_table(results)
    assert from_summary.returncode == 0, from_summary.stderr
    # the finished run: both folds of both methods, the same mean ± sd either way
    assert from_evaluations.stdout == from_summary.stdout
    assert "| none (resnet18, ours) " in from_summary.stdout and "± " in from_summary.stdout
    # the model to choose is the one with the best holdout ACSA, marked; the ceiling run beside
    assert from_summary.stdout.count("← selected on holdout") == 2  # one per test set's table
    board = pd.read_csv(results / "summary" / "leaderboard.csv")
    holdout = board[board["testset"] == "holdout"].set_index("method")["acsa_mean"]
    assert f"| {holdout.idxmax()} (resnet18, ours) ← selected on holdout" in from_summary.stdout
    with_ceiling = fmnist_lt_table(results, "--ceiling", str(results))
    assert (
        "| ceiling: none on a balanced set of the same size (resnet18, ours)" in with_ceiling.stdout
    )

    # a time limit stopped the run before fold 1 of `none` was evaluated
    shutil.rmtree(results / "fold1" / "eval" / "none")
    cut_short = fmnist_lt_table(results)
    assert cut_short.returncode == 0, cut_short.stderr
    rows = [line for line in cut_short.stdout.splitlines() if "(resnet18, ours)" in line]
    folds = {line.split("|")[1].split(" (")[0].strip(): line.split("|")[2].strip() for line in rows}
    assert folds == {"none": "1", "smote-ae": "2"}
    assert "DeepSMOTE (published)" in cut_short.stdout

    # the choice is among the models with the most folds, although smote-ae's better fold alone
    # beats none's mean on the holdout: means over other folds do not compare
    shutil.copytree(workdir / "results" / "digits" / "fold1" / "eval" / "none",
                    results / "fold1" / "eval" / "none")  # fmt: skip
    per_fold = pd.read_csv(results / "summary" / "metrics_per_fold.csv")
    holdout = per_fold[per_fold["testset"] == "holdout"]
    smote_ae = holdout[holdout["method"] == "smote-ae"].set_index("fold")["acsa"]
    assert smote_ae.max() > holdout[holdout["method"] == "none"]["acsa"].mean()
    shutil.rmtree(results / f"fold{smote_ae.idxmin()}" / "eval" / "smote-ae")
    uneven = fmnist_lt_table(results).stdout
    assert "| none (resnet18, ours) ← selected on holdout" in uneven, uneven

    (results / "fold0" / "eval").rename(results / "fold0" / "not-eval")
    shutil.rmtree(results / "fold1" / "eval")
    nothing = fmnist_lt_table(results)
    assert nothing.returncode != 0 and "no evaluation finished" in nothing.stderr


def load_benchmark(name: str):
    spec = importlib.util.spec_from_file_location(name, REPO / "benchmarks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class MetaReadsAsZero(TorchDispatchMode):
    """Lets a loop run on the ``meta`` device, which holds shapes but no numbers: a value read
    from it (``.item()``, a copy to the CPU) reads as zero."""

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        source = args[0] if args and isinstance(args[0], torch.Tensor) else None
        if source is not None and source.is_meta:
            if func is torch.ops.aten._local_scalar_dense.default:
                return 0
            target = kwargs.get("device")
            if func is torch.ops.aten._to_copy.default and target and target.type != "meta":
                return torch.zeros(source.shape, dtype=kwargs.get("dtype") or source.dtype)
        return func(*args, **kwargs)


@pytest.mark.parametrize("case", ["ae28", "resnet18"])
def test_speed_runs_both_loops_on_the_device_asked(case, monkeypatch):
    """Ours vs plain on a GPU must compare GPU with GPU: every model, batch and optimizer step of
    both loops runs on the device passed (``meta`` stands in for a GPU here)."""
    speed = load_benchmark("speed")
    # fused Adam has meta kernels; torch's check of the parameters' device lists real devices only
    supported = optimizer_module._get_fused_kernels_supported_devices
    monkeypatch.setattr(
        optimizer_module, "_get_fused_kernels_supported_devices", lambda: [*supported(), "meta"]
    )
    calls, steps = [], []

    def record_call(module, inputs):
        tensors = [*module.parameters(recurse=False), *module.buffers(recurse=False), *inputs]
        calls.append(
            (type(module).__name__, {t.device.type for t in tensors if t.is_floating_point()})
        )

    def record_step(optimizer, args, kwargs):
        params = [p for group in optimizer.param_groups for p in group["params"]]
        fused = bool(optimizer.defaults.get("fused"))
        steps.append(("ours" if fused else "plain", {p.device.type for p in params}))

    meta = torch.device("meta")
    hooks = [register_module_forward_pre_hook(record_call),
             register_optimizer_step_pre_hook(record_step)]  # fmt: skip
    try:
        with MetaReadsAsZero():
            result = speed.run_case(case, 12, 1, meta, Precision(meta, "fp32"))
    finally:
        for hook in hooks:
            hook.remove()
    assert result["ours_images_per_s"] > 0 and result["plain_images_per_s"] > 0
    assert {who for who, _ in steps} == {"ours", "plain"}
    assert all(devices == {"meta"} for _, devices in steps)
    layers = {name for name, _ in calls}
    assert {"Conv2d", "BatchNorm2d"} <= layers or "ConvTranspose2d" in layers
    off_device = {name for name, devices in calls if devices - {"meta"}}
    assert not off_device, f"layers that ran off the device: {off_device}"


GPU_CHECK_STEPS = ["install", "tests", "determinism", "precision", "speed", "fmnist-lt"]
DEBIAN_FASHIONMNIST = Path("/usr/share/datasets/fashion-mnist")
needs_fashionmnist = pytest.mark.skipif(
    not DEBIAN_FASHIONMNIST.exists(), reason="apt-get install dataset-fashion-mnist"
)


def gpu_check(tmp_path, *args, **env):
    """benchmarks/gpu/check.sh run as the borrowed machine runs it, with its $OUT and work folder
    under tmp_path; returns the run and its summary's step lines by step."""
    env = os.environ | {"OUT": str(tmp_path / "out"), "CHECK_WORK": str(tmp_path / "work"),
                        "PYTHON": sys.executable, **env}  # fmt: skip
    run = subprocess.run(["bash", "benchmarks/gpu/check.sh", *args], cwd=REPO, env=env,
                         capture_output=True, text=True)  # fmt: skip
    summary = (tmp_path / "out" / "summary.txt").read_text()
    assert summary.strip() in run.stdout  # the block is the end of what is printed
    steps = {line.split()[0]: line for line in summary.splitlines() if line.split()[:1]}
    return run, steps


@needs_fashionmnist
def test_gpu_check_runs_every_step_in_its_cpu_smoke_mode(tmp_path):
    """The GPU check's CPU smoke mode: every step on a tiny config, the CUDA-only ones reported as
    skipped after their CPU part; what it leaves in $OUT is what the borrowed machine can send
    back (at most 8 files, at most two folders down)."""
    run, steps = gpu_check(tmp_path, "--cpu-smoke")
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    assert set(GPU_CHECK_STEPS) <= set(steps)
    for name in ["install", "determinism", "speed", "fmnist-lt"]:
        assert steps[name].split()[1] == "ok", steps[name]
    for name in ["tests", "precision"]:
        assert "skipped (needs CUDA)" in steps[name], steps[name]
    assert "tests collected" in steps["tests"]
    assert "byte-identical" in steps["determinism"]
    assert "auto -> " in steps["precision"] and "fp16 as fp32, scaler off" in steps["precision"]
    assert re.search(r"resnet18 [\d.]+x", steps["speed"])
    # one method x three test sets, and its table
    assert "3 of 3 evaluations finished" in steps["fmnist-lt"]
    out = tmp_path / "out"
    assert "ros (resnet18, ours)" in (out / "fmnist-lt.md").read_text()
    files = [path.relative_to(out) for path in out.rglob("*") if path.is_file()]
    assert len(files) <= 8 and all(len(path.parts) <= 3 for path in files), files


@needs_fashionmnist
def test_a_failed_gpu_check_step_keeps_the_figures_before_it(tmp_path):
    """A step that fails (here FashionMNIST is not where the check looks) is reported, and the
    figures of the steps before it stay in the summary; the check's exit status says it failed."""
    run, steps = gpu_check(
        tmp_path,
        "--cpu-smoke",
        CHECK_STEPS="determinism fmnist-lt",
        FASHION_MNIST=str(tmp_path / "nowhere"),
    )
    assert run.returncode != 0
    assert steps["determinism"].split()[1] == "ok" and "byte-identical" in steps["determinism"]
    assert "FAILED" in steps["fmnist-lt"] and "0 of 3 evaluations" in steps["fmnist-lt"]
    for name in ["install", "tests", "precision", "speed"]:
        assert "skipped: not in CHECK_STEPS" in steps[name]
    assert (tmp_path / "out" / "determinism.json").exists()


def run_benchmark(script, *args):
    return subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / script), *args],
        capture_output=True,
        text=True,
        env=os.environ | {"PYTHONPATH": str(REPO / "workflow")},
    )


def test_evaluation_settings_are_scored_on_the_holdouts_of_every_model(tiny_run):
    workdir, _, _ = tiny_run
    results = workdir / "results" / "digits"
    run = run_benchmark(
        "recipe_screen.py", "evaluation", str(results), "--tau", "0", "1", "--batch-size", "32"
    )
    assert run.returncode == 0, run.stderr
    # the workflow scored each model's own holdout without flip or adjustment: the same ACSA
    board = pd.read_csv(results / "summary" / "metrics_per_fold.csv")
    holdout = board[board["testset"] == "holdout"]
    rows = [
        [cell.strip() for cell in line.split("|")[1:-1]]
        for line in run.stdout.splitlines()
        if line.startswith("| ") and "flip" not in line
    ]
    printed = {(cells[0], int(cells[1])): float(cells[2]) for cells in rows}
    for _, row in holdout.iterrows():
        assert printed[(row["method"], row["fold"])] == pytest.approx(100 * row["acsa"], abs=0.006)
    assert "best: flip" in run.stdout


def test_head_settings_are_scored_on_the_holdouts_for_each_head(tiny_run):
    workdir, _, _ = tiny_run
    results = workdir / "results" / "digits"
    run = run_benchmark(
        "recipe_screen.py", "heads", str(results), "--backbones", "none", "--epochs", "2", "5",
        "--lr", "0.01", "--eos-neighbors", "3", "5",
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    for head in ("none@crt", "none@smote-feat", "none@eos"):
        assert sum(f"| {head} " in line for line in run.stdout.splitlines()) == 2  # two folds
    assert "2 epochs, lr 0.01, k 3" in run.stdout and "5 epochs, lr 0.01, k 5" in run.stdout
    assert "best: " in run.stdout
    # EOS's k is chosen among EOS's own scores at the best epochs and lr
    assert re.search(r"EOS at [25] epochs, lr 0\.01, per k: \{3: [\d.]+, 5: [\d.]+\}", run.stdout)


def test_pooled_verdict_of_a_whole_run_is_the_runs_own_and_pairs_only_common_folds(
    tiny_run, tmp_path
):
    workdir, config, _ = tiny_run
    results = tmp_path / "digits"
    shutil.copytree(workdir / "results" / "digits", results)
    pooled = run_benchmark(
        "pooled_verdict.py", str(results), "--out", str(tmp_path / "pooled"),
        "--configfile", str(config),
    )  # fmt: skip
    assert pooled.returncode == 0, pooled.stderr
    # every fold of every model: the same selection, intervals and decisions as the run's summary
    own = pd.read_csv(results / "summary" / "comparison.csv")
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "pooled" / "comparison.csv"), own)
    assert (tmp_path / "pooled" / "headline.txt").read_text() == (
        results / "summary" / "headline.txt"
    ).read_text()

    # one model lacks fold 1: the comparison pairs fold 0 only, and says what it left out
    shutil.rmtree(results / "fold1" / "eval" / "none")
    cut = run_benchmark(
        "pooled_verdict.py", str(results), "--out", str(tmp_path / "cut"),
        "--configfile", str(config),
    )  # fmt: skip
    assert cut.returncode == 0, cut.stderr
    assert "folds [0]" in cut.stderr and "smote-ae / resnet18: folds [1] left out" in cut.stderr
    assert set(pd.read_csv(tmp_path / "cut" / "metrics_per_fold.csv")["fold"]) == {0}

    unknown = run_benchmark(
        "pooled_verdict.py", str(results), "--out", str(tmp_path / "x"),
        "--configfile", str(config), "--methods", "none", "ros",
    )  # fmt: skip
    assert unknown.returncode != 0 and "no finished evaluation of ros" in unknown.stderr


def test_recipe_screen_scores_each_alternative_on_the_holdouts_only(tiny_run, tmp_path):
    workdir, _, _ = tiny_run
    base = write_config(tmp_path / "base.yaml", {**TINY_CONFIG, "methods": ["none"]})
    shorter = write_config(tmp_path / "shorter.yaml", {"classifier": {"epochs": 1}})
    out = tmp_path / "screens"
    screen = run_benchmark(
        "recipe_screen.py", "overlays", "--configfile", str(base), "--out", str(out),
        "--cores", "2", "--alternative", "recipe", f"one-epoch={shorter}",
    )  # fmt: skip
    assert screen.returncode == 0, screen.stderr
    # the test sets are never scored, so they cannot steer the choice
    assert not list(out.glob("*/results/digits/fold*/eval/*/*/test*"))
    assert len(list(out.glob("*/results/digits/fold*/eval/none/resnet18/holdout"))) == 4
    # the base alternative reproduces the full run's holdout scores of `none`
    full = pd.read_csv(workdir / "results" / "digits" / "summary" / "metrics_per_fold.csv")
    full = full[(full["testset"] == "holdout") & (full["method"] == "none")]
    scores = pd.read_csv(out / "holdout.csv")
    recipe = scores[scores["alternative"] == "recipe"].set_index("fold")["acsa"]
    assert recipe.to_dict() == pytest.approx(full.set_index("fold")["acsa"].to_dict())
    # one row per model, one column per alternative, the better one marked
    table = (out / "holdout.md").read_text()
    assert "| recipe " in table and "| one-epoch " in table and table.count("**best**") == 1
    assert "(2)" in table  # folds counted
    # the alternative against the base on the same holdout images of both folds
    versus = pd.read_csv(out / "against_base.csv")
    assert len(versus) == 1
    row = versus.iloc[0]
    assert (row["run"], row["alternative"], row["base"], row["folds"]) == (
        "none / resnet18",
        "one-epoch",
        "recipe",
        2,
    )
    shorter_scores = scores[scores["alternative"] == "one-epoch"].set_index("fold")["acsa"]
    assert row["difference"] == pytest.approx((shorter_scores - recipe).mean())
    assert row["resamples"] == 1000
    assert row["bootstrap_ci95_low"] <= row["bootstrap_ci95_high"]
    assert "Against the base" in table and "one-epoch − recipe" in table
    assert re.search(r"- digits, none / resnet18: \*\*(recipe|one-epoch)\*\*", table)

    bad = run_benchmark("recipe_screen.py", "overlays", "--configfile", str(base),
                        "--out", str(out), "--alternative", "x=missing.yaml")  # fmt: skip
    assert bad.returncode != 0 and "no config file missing.yaml" in bad.stderr


def test_recipe_screen_keeps_the_base_unless_an_alternative_beats_it_by_both_tests():
    screen = load_benchmark("recipe_screen")
    one_fold = {"folds": 1, "p_t": np.nan, "p_bootstrap_bound": False}
    rule = screen.better_than_base
    assert rule(one_fold | {"difference": 0.02, "p_bootstrap": 0.01}, 0.05) == (
        True, "one fold, the bootstrap alone: significantly better"
    )  # fmt: skip
    # significantly worse is not better, and the reason says which way it went
    assert rule(one_fold | {"difference": -0.02, "p_bootstrap": 0.01}, 0.05) == (
        False, "one fold, the bootstrap alone: significantly worse"
    )  # fmt: skip
    assert rule(one_fold | {"difference": 0.02, "p_bootstrap": 0.2}, 0.05) == (
        False, "one fold, the bootstrap alone: not significant"
    )  # fmt: skip
    folds = {"folds": 5, "difference": 0.02, "p_bootstrap_bound": False}
    assert rule(folds | {"p_t": 0.01, "p_bootstrap": 0.2}, 0.05) == (
        False, "only the corrected t says so"
    )  # fmt: skip
    assert rule(folds | {"p_t": 0.01, "p_bootstrap": 0.01}, 0.05) == (
        True, "both tests agree; better"
    )  # fmt: skip

    # two runs; "wide" leads on the holdouts of both by chance, "steady" beats the base on ros
    means = {"base": 0.80, "wide": 0.83, "steady": 0.82}
    scores = pd.DataFrame(
        [
            {"dataset": "d", "run": run, "alternative": name, "fold": 0, "acsa": value}
            for run in ("ros / resnet18", "none / resnet18")
            for name, value in means.items()
        ]
    )
    versus = pd.DataFrame(
        [
            {"dataset": "d", "run": run, "alternative": name, "better": better}
            for run, name, better in [
                ("ros / resnet18", "wide", False),
                ("ros / resnet18", "steady", True),
                ("none / resnet18", "wide", False),
                ("none / resnet18", "steady", False),
            ]
        ]
    )
    picks = screen.chosen(scores, versus, "base").set_index("run")["chosen"]
    assert picks.to_dict() == {"ros / resnet18": "steady", "none / resnet18": "base"}


def test_recipe_screen_started_from_a_finished_run_reruns_only_what_an_overlay_changes(
    tiny_run, tmp_path
):
    workdir, config, _ = tiny_run
    fold0 = Path("results") / "digits" / "fold0" / "classifier" / "none" / "resnet18"
    model = workdir / fold0 / "model.pt"
    before = model.read_bytes()
    shorter = write_config(tmp_path / "shorter.yaml", {"classifier": {"epochs": 1}})
    out = tmp_path / "screens"
    screen = run_benchmark(
        "recipe_screen.py", "overlays", "--configfile", str(config), "--out", str(out),
        "--cores", "2", "--reuse", str(workdir), "--alternative", "recipe", f"one-epoch={shorter}",
    )  # fmt: skip
    assert screen.returncode == 0, screen.stderr
    log = {name: (out / name / "snakemake.log").read_text() for name in ("recipe", "one-epoch")}
    # the base recipe is the finished run: nothing trains or oversamples again
    assert not re.search(r"rule (train_\w+|oversample|split|folds):", log["recipe"])
    # a classifier setting retrains the classifiers of both methods on both folds, and only them
    assert len(re.findall(r"rule train_classifier:", log["one-epoch"])) == 4
    assert not re.search(r"rule (train_autoencoder|oversample|split|folds):", log["one-epoch"])
    assert len(pd.read_csv(out / "one-epoch" / fold0 / "history.csv")) == 1
    # the reused holdout scores are the finished run's; its test-set scores never came along
    full = pd.read_csv(workdir / "results" / "digits" / "summary" / "metrics_per_fold.csv")
    full = full[full["testset"] == "holdout"].set_index(["model", "fold"])["acsa"]
    scores = pd.read_csv(out / "holdout.csv")
    recipe = scores[scores["alternative"] == "recipe"]
    assert len(recipe) == len(full) == 4
    for row in recipe.itertuples():
        assert row.acsa == pytest.approx(full[(row.model, row.fold)])
    assert not list(out.glob("*/results/digits/fold*/eval/*/*/test*"))
    assert model.read_bytes() == before  # the finished run is only read

    unfinished = run_benchmark("recipe_screen.py", "overlays", "--configfile", str(config),
                               "--out", str(out), "--reuse", str(tmp_path),
                               "--alternative", "recipe")  # fmt: skip
    assert unfinished.returncode != 0 and "not a finished workflow folder" in unfinished.stderr


def test_deepsmote_autoencoder_overlay_writes_beside_the_recipe_not_over_it(tmp_path):
    """The command in the overlay's header plans its own dataset's jobs alone: the recipe's
    `smote-ae` under results/fmnist_lt/ is neither retrained nor overwritten."""
    overlay = REPO / "benchmarks" / "configs" / "fmnist-lt-deepsmote-ae.yaml"
    header = overlay.read_text().split("#   snakemake --cores all ", 1)[1].splitlines()[0]
    workdir = copy_workflow(tmp_path)
    shutil.copytree(overlay.parent, workdir / "benchmarks" / "configs")
    plan = snakemake(workdir, "--dry-run", *header.split()).stdout
    assert "rule train_autoencoder:" in plan and "rule train_classifier:" in plan
    assert set(re.findall(r"results/[^/\s]+/", plan)) == {"results/fmnist_lt_deepsmote_ae/"}


def test_each_method_chooses_its_recipe_on_the_holdouts_of_the_folds_all_candidates_ran(
    tiny_run, rivals_run
):
    """recipe_choice.py: `none` under two recipes (the tiny run's, and the rivals' with logit
    adjustment at evaluation, fold 0 only): the choice is the higher holdout ACSA over the folds
    both ran (fold 0), a tie keeping the first, and the test score printed is the chosen run's."""
    tiny, rivals = tiny_run[0] / "results" / "digits", rivals_run / "results" / "digits"
    result = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "recipe_choice.py"),
         f"shared={tiny}", f"adjusted={rivals}"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    runs = {
        name: pd.read_csv(path / "summary" / "metrics_per_fold.csv").query(
            "method == 'none' and fold == 0"
        )
        for name, path in (("shared", tiny), ("adjusted", rivals))
    }
    holdout = {name: run.query("testset == 'holdout'")["acsa"].item() for name, run in runs.items()}
    chosen = "adjusted" if holdout["adjusted"] > holdout["shared"] else "shared"
    test = runs[chosen].query("testset == 'test'")["acsa"].item()
    row = next(line for line in result.stdout.splitlines() if line.startswith("| none "))
    cells = [cell.strip() for cell in row.strip("|").split("|")]
    assert cells[1:3] == ["1", chosen]  # one common fold
    assert float(cells[3]) == pytest.approx(100 * holdout["shared"], abs=0.01)
    assert float(cells[4]) == pytest.approx(100 * holdout["adjusted"], abs=0.01)
    assert f"{100 * test:.2f}" in row
    # the methods only one candidate ran choose among what ran: smote-ae keeps the shared recipe
    assert re.search(r"^\| smote-ae +\| +2 \| shared ", result.stdout, re.M)
    # the choices as classifier.by_method: la-loss ran only under the rivals' 2 epochs; none's
    # two recipes train its classifier alike (3 epochs), so its choice changes none of it
    choices = yaml.safe_load(result.stdout.split("lay over the shared config:")[1])
    assert choices["classifier"]["by_method"]["la-loss"] == {"epochs": 2}
    assert "none" not in choices["classifier"]["by_method"]
    assert ("none chose adjusted, which changes no" in result.stdout) == (chosen == "adjusted")
