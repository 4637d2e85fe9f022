"""`latentbalance inspect` on folders as users have them: what it prints, the config it writes
(planned and run end to end by the real Snakemake), and the folders it refuses."""

import re

import numpy as np
import pandas as pd
import pytest
import yaml

from latentbalance.data.sources import load_source
from latentbalance.data.splits import make_split
from latentbalance.settings.check import check_config
from latentbalance.training.proposal import parse_duration

from helpers import (
    copy_workflow,
    latentbalance,
    part_picture,
    planned_jobs,
    snakemake,
    write_config,
    write_messy_folder,
    write_mvtec_tree,
    write_pictures,
)

# label order = code point order: upper case first, an accented letter after every ASCII one
CLASSES = ["Kratzer-ä", "défaut", "gut"]
READABLE = [6, 7, 14]


@pytest.fixture
def messy(tmp_path):
    """Three classes with non-ASCII names; PNG, JPEG and BMP files in L, RGB, RGBA, P and 16-bit
    grey, of three sizes, in nested folders; a truncated PNG, hidden files and a text file."""
    root = tmp_path / "Teile-Fotos"
    counts = write_messy_folder(root)  # good part: 14, scratch: 6 + broken.png
    (root / "good part").rename(root / "gut")
    (root / "scratch").rename(root / "Kratzer-ä")
    write_pictures(root / "défaut" / "Linie 2", 7, size=(24, 24), mode="L")
    assert [counts["scratch"], 7, counts["good part"]] == READABLE
    return root


def inspect(*args, cwd):
    run = latentbalance("inspect", *map(str, args), cwd=cwd)
    assert run.returncode == 0, run.stderr
    return run.stdout


def class_table(stdout: str) -> list[tuple[int, str, int]]:
    """(label, class, readable) rows of the printed class table."""
    section = stdout.split("Classes in label order", 1)[1].split("\n\n", 1)[0]
    rows = re.findall(r"^\s*(\d+)\s+(.+?)\s+(\d+)\s+\d+x\d+", section, re.MULTILINE)
    return [(int(label), name, int(readable)) for label, name, readable in rows]


def printed_block(stdout: str) -> dict:
    text = stdout.split("The datasets block", 1)[1].split("\n", 1)[1].split("\nwrote ", 1)[0]
    return yaml.safe_load(text)["datasets"]


def test_inspect_shows_a_messy_folder_as_a_run_reads_it(messy, tmp_path):
    stdout = inspect(messy, cwd=tmp_path)
    # the class order is the workflow reader's, the order of imbalance.counts
    reader = load_source("folder", root=str(messy), image_size=24, skip_bad_images=True)
    assert reader.class_names == CLASSES
    assert class_table(stdout) == list(zip(range(3), CLASSES, READABLE, strict=True))
    assert np.bincount(reader.labels).tolist() == READABLE
    # sizes and modes per class
    classes = stdout.split("Classes in label order", 1)[1].split("\n\n", 1)[0]
    row = {name: line for line in classes.splitlines() for name in CLASSES if f" {name} " in line}
    assert "24x24: 7" in row["défaut"] and "L: 7" in row["défaut"]
    for mode in ("RGB", "RGBA", "P", "L", "I;16"):
        assert f"{mode}: " in row["gut"]
    assert all(size in row["gut"] for size in ("24x24", "32x32", "40x40"))
    # what cannot be read, with why, and what is not read at all
    broken = messy / "Kratzer-ä" / "broken.png"
    assert re.search(rf"^  {re.escape(str(broken))}: \w+Error: .+", stdout, re.MULTILINE)
    for ignored in ("gut/notes.txt", "gut/._img0.png", "gut/.ipynb_checkpoints/img2-checkpoint"):
        assert f"{messy}/{ignored}" in stdout

    (name, block), *others = printed_block(stdout).items()
    assert name == "Teile_Fotos" and not others
    assert block["source"] == "folder" and block["root"] == str(messy.resolve())
    assert block["skip_bad_images"] is True  # the truncated PNG
    assert block["image_size"] in ([24, 24], [32, 32])  # the most common size
    assert block["test_fraction"] == 0.2
    counts = block["imbalance"]["counts"]
    assert counts == [4, 5, 10]  # of 6, 7 and 14 readable images, 20 % held out for the test set
    # the split accepts them with any seed, not only the default
    for seed in range(30):
        parts = make_split(reader.labels, 0.2, counts, seed, CLASSES)
        assert np.bincount(reader.labels[parts["train"]]).tolist() == counts

    # another test fraction leaves fewer training images
    fewer = printed_block(inspect(messy, "--test-fraction", "0.4", cwd=tmp_path))
    assert fewer["Teile_Fotos"]["imbalance"]["counts"] == [3, 4, 8]


@pytest.mark.workflow
def test_the_written_config_plans_unchanged_and_runs_end_to_end(messy, tmp_path):
    (tmp_path / "run").mkdir()
    workdir = copy_workflow(tmp_path / "run")
    written = workdir / "my.yaml"
    stdout = inspect(messy, "--write", written, cwd=workdir)
    assert f"wrote {written}" in stdout
    text = written.read_text(encoding="utf-8")
    assert text.startswith("# Written by `latentbalance inspect")
    header = " ".join(line[2:] for line in text.splitlines() if line.startswith("# "))
    assert "Kratzer-ä 6, défaut 7, gut 14." in header  # the class order, for the user to edit
    config = yaml.safe_load(text)
    assert config["datasets"] == printed_block(stdout)
    assert config["classifier"]["patience"] == 5  # every other key at the schema's default

    plan = planned_jobs(snakemake(workdir, "-n", "--configfile", str(written)).stdout)
    folds, methods = config["folds"], config["methods"]
    assert plan["download"] == 1 and plan["train_classifier"] == folds * len(methods)

    # the run itself on a tiny budget: one fold, one epoch, through an overlay after the file
    tiny = write_config(
        workdir / "tiny.yaml",
        {
            "run_folds": [0],
            "autoencoder": {"epochs": 1, "width": 8},
            "classifier": {"epochs": 1},
            "compute": {"threads": 1},
        },
    )
    snakemake(workdir, "--configfile", str(written), str(tiny))
    assert written.read_text(encoding="utf-8") == text
    results = workdir / "results" / "Teile_Fotos"
    split = pd.read_csv(results / "split" / "class_counts.csv")
    assert split["class"].tolist() == CLASSES
    assert split["train"].tolist() == config["datasets"]["Teile_Fotos"]["imbalance"]["counts"]
    skipped = pd.read_csv(results / "data" / "skipped_images.csv")
    assert skipped["file"].tolist() == [str(messy.resolve() / "Kratzer-ä" / "broken.png")]
    leaderboard = (results / "summary" / "leaderboard.md").read_text()
    assert all(method in leaderboard for method in methods)


def test_class_folders_equal_up_to_case_stop_inspect(tmp_path):
    for name in ("Scratch", "good", "scratch"):
        write_pictures(tmp_path / "parts" / name, 3)
    run = latentbalance("inspect", "parts", "--write", "my.yaml", cwd=tmp_path)
    assert run.returncode == 2
    assert run.stderr.count("\n") == 1  # one message, no traceback
    assert str(tmp_path / "parts" / "Scratch") not in run.stderr  # relative, as the user typed
    assert "parts/Scratch and parts/scratch" in run.stderr
    assert "differ only in case" in run.stderr and "rename one" in run.stderr
    assert not (tmp_path / "my.yaml").exists()


def test_inspect_writes_nothing_when_nothing_fits_or_the_file_exists(tmp_path):
    write_pictures(tmp_path / "parts" / "good", 8)
    write_pictures(tmp_path / "parts" / "dent", 1)
    (tmp_path / "parts" / "dent" / "1.png").write_bytes(b"not an image")
    run = latentbalance("inspect", "parts", "--write", "my.yaml", cwd=tmp_path)
    assert run.returncode == 2
    assert "parts/dent (1)" in run.stderr and "at least 2 readable images" in run.stderr
    assert "1.png" in run.stdout  # the report still shows what was found
    assert not (tmp_path / "my.yaml").exists()

    write_pictures(tmp_path / "parts" / "dent", 6)
    (tmp_path / "my.yaml").write_text("seed: 1\n")
    run = latentbalance("inspect", "parts", "--write", "my.yaml", cwd=tmp_path)
    assert run.returncode == 2 and "my.yaml exists" in run.stderr and "--force" in run.stderr
    assert (tmp_path / "my.yaml").read_text() == "seed: 1\n"
    run = latentbalance("inspect", "parts", "--write", "my.yaml", "--force", cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    assert yaml.safe_load((tmp_path / "my.yaml").read_text())["datasets"]["parts"]["imbalance"]


def test_inspect_reads_an_mvtec_category_and_its_config_plans(tmp_path):
    write_mvtec_tree(tmp_path / "mvtec", train_good=9, test_good=3, defects={"broken": 2, "cut": 3})
    stdout = inspect("mvtec", "--mvtec", "bottle", cwd=tmp_path)
    assert class_table(stdout) == [(0, "good", 12), (1, "defect", 5)]  # masks are not images
    # the category folder itself is recognised by its layout
    assert class_table(inspect("mvtec/bottle", cwd=tmp_path)) == class_table(stdout)
    block = printed_block(stdout)["mvtec_bottle"]
    assert block["source"] == "mvtec" and block["category"] == "bottle"
    assert "image_size" not in block and "skip_bad_images" not in block
    assert block["imbalance"]["counts"] == [9, 3]

    (tmp_path / "run").mkdir()
    workdir = copy_workflow(tmp_path / "run")
    inspect(
        tmp_path / "mvtec", "--mvtec", "bottle", "--write", workdir / "mvtec.yaml", cwd=tmp_path
    )
    plan = planned_jobs(snakemake(workdir, "-n", "--configfile", "mvtec.yaml").stdout)
    assert plan["download"] == 1 and plan["split"] == 1


# --- --budget: a run sized for this machine ------------------------------------------------------


def write_parts(root, counts: dict[str, int], size: int = 64):
    """RGB pictures of parts (helpers.part_picture), ``counts`` per defect class."""
    rng = np.random.default_rng(0)
    for defect, count in counts.items():
        (root / defect).mkdir(parents=True)
        for i in range(count):
            picture = part_picture(rng, size, None if defect == "good" else defect)
            picture.save(root / defect / f"{i}.png")


def written_run(path) -> tuple[dict, float]:
    """A config --write wrote, checked as the Snakefile checks it, and the estimate its opening
    comment gives (seconds)."""
    text = path.read_text(encoding="utf-8")
    header = " ".join(line[2:] for line in text.splitlines() if line.startswith("# "))
    total = re.search(r"Estimated: about (\S+) with snakemake --cores \d+ \(", header)
    assert total, header
    config = check_config(yaml.safe_load(text))
    return config, parse_duration(total.group(1))


def run_cost(config: dict) -> tuple:
    (block,) = config["datasets"].values()
    side = min(block.get("image_size") or [64])
    stem = ["imagenet", "compact"].index(config["classifier"]["stem"])  # richer: higher
    epochs = (config["autoencoder"]["epochs"], config["classifier"]["epochs"])
    return side, stem, config["folds"], *epochs


@pytest.mark.workflow
def test_budget_sizes_the_written_run_and_tells_its_cost(tmp_path):
    write_parts(tmp_path / "parts", {"good": 30, "crack": 12, "blotch": 8})
    (tmp_path / "run").mkdir()
    workdir = copy_workflow(tmp_path / "run")
    stdout = inspect(tmp_path / "parts", "--write", "roomy.yaml", "--budget", "4h", cwd=workdir)
    roomy, roomy_s = written_run(workdir / "roomy.yaml")
    # the printed estimate: one row per rule with its jobs, as Snakemake plans the written run
    assert "A run for a budget of 4h on this machine" in stdout
    table = stdout.split("\nEstimated time", 1)[1].split("\nPeak memory", 1)[0]
    rows = dict(re.findall(r"^  ([a-z_]+)\s+(\d+)\s", table, re.MULTILINE))
    plan = planned_jobs(snakemake(workdir, "-n", "--configfile", "roomy.yaml").stdout)
    assert {rule: int(jobs) for rule, jobs in rows.items() if rule != "total"} == {
        rule: jobs for rule, jobs in plan.items() if rule != "all"
    }
    assert re.search(r"^Peak memory: about [\d.]+ [MG]B", stdout, re.MULTILINE)
    assert roomy_s <= 4 * 3600
    assert run_cost(roomy) == (64, 1, 5, 50, 30)  # the richest run: tiny images train fast

    # a budget below what the jobs' start-up alone takes: the smallest run, and a GPU advised
    stdout = inspect(tmp_path / "parts", "--write", "tight.yaml", "--budget", "1m", cwd=workdir)
    tight, tight_s = written_run(workdir / "tight.yaml")
    assert tight_s < roomy_s
    assert run_cost(tight) < run_cost(roomy)
    assert all(a <= b for a, b in zip(run_cost(tight), run_cost(roomy), strict=True))
    assert tight["datasets"]["parts"]["image_size"] == [32, 32]  # halved: 32 px at least
    assert "A GPU is the right tool for this folder" in stdout
    assert "over the budget of 1m" in stdout
    header = (workdir / "tight.yaml").read_text().split("\nseed:")[0]
    assert "--budget 1m" in header and "A GPU is the right tool" in header
    # what was written plans as it said
    plan = planned_jobs(snakemake(workdir, "-n", "--configfile", "tight.yaml").stdout)
    assert plan["train_classifier"] == tight["folds"] * len(tight["methods"])


def test_a_budget_that_is_not_a_duration_stops_inspect(tmp_path):
    write_pictures(tmp_path / "parts" / "good", 8)
    write_pictures(tmp_path / "parts" / "dent", 6)
    run = latentbalance("inspect", "parts", "--budget", "4 hours", cwd=tmp_path)
    assert run.returncode == 2 and run.stderr.count("\n") == 1
    assert "'4 hours' is not a duration" in run.stderr and "1h30m" in run.stderr
    assert "reading images" not in run.stderr  # said before the folder is read
