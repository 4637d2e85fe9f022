"""The ``latentbalance`` command: use the classifiers a workflow run saved.

    latentbalance predict --model results/<ds>/fold0/classifier/smote-ae/resnet18 new_images/
    latentbalance evaluate --model results/<ds>/fold0/classifier/smote-ae/resnet18 \\
        --data results/<ds>/data/images.npy --testset test --out my_eval/
    latentbalance inspect data/my-parts --write my.yaml
"""

from __future__ import annotations

import argparse
import json
import logging
import re
import sys
import tempfile
from pathlib import Path

import numpy as np

from .settings.schema import allowed, setting

log = logging.getLogger("latentbalance")


class UsageError(Exception):
    """A problem with the user's arguments or files: printed as one line, exit status 2."""


def model_file(path) -> Path:
    """A classifier directory of a workflow run (holding model.pt) or the model.pt itself."""
    path = Path(path)
    if path.is_dir():
        path = path / "model.pt"
    if not path.is_file():
        raise UsageError(
            f"no saved classifier at {path}; pass a directory like "
            "results/<dataset>/fold0/classifier/<method>/<arch>/ (with model.pt) or its model.pt"
        )
    return path


def load_model(path):
    from .nets.model_files import load_classifier

    try:
        return load_classifier(path)
    except Exception as error:  # a truncated or foreign file: say which one
        raise UsageError(f"{path} is not a classifier saved by latentbalance ({error})") from error


def non_negative(text: str) -> float:
    value = float(text)
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, not {text}")
    return value


def image_files(paths) -> list[Path]:
    """The image files named, and every image file under the folders named (recursively)."""
    from .data.decode import IMAGE_SUFFIXES, find_images

    files = []
    for path in map(Path, paths):
        if path.is_dir():
            found = find_images(path)
            if not found:
                raise UsageError(f"{path} holds no image files ({', '.join(IMAGE_SUFFIXES)})")
            files.extend(found)
        elif path.is_file():
            files.append(path)
        else:
            raise UsageError(f"{path} does not exist")
    return files


def readable_images(files, size, channels: int, skip_bad_images: bool):
    """Every file as uint8 (N, C, H, W): (images, the files read, the BadImageErrors of the rest).
    All are tried; the unreadable are reported together and stop it unless ``skip_bad_images``."""
    from .data.decode import ImageReading, read_images

    decoded = read_images(files, ImageReading(size, channels, skip_bad_images=True))
    bad, read = decoded.unreadable, [files[i] for i in decoded.kept]
    more = f"\n  ... and {len(bad) - 20} more" if len(bad) > 20 else ""
    shown = "\n  ".join(str(e) for e in bad[:20]) + more
    if bad and (not skip_bad_images or not read):
        fix = "" if skip_bad_images else ", or pass --skip-bad-images to predict the rest"
        raise UsageError(
            f"{len(bad)} of {len(files)} files cannot be read as images:\n  {shown}\n"
            f"remove or replace them{fix} (nothing was written)"
        )
    if bad:
        log.warning("skipped %d of %d files that cannot be read as images:\n  %s",
                    len(bad), len(files), shown)  # fmt: skip
    return decoded.images, read, bad


def skipped_file(out) -> Path:
    """The list of files that predict --skip-bad-images skipped, beside its CSV."""
    return Path(out).with_suffix(".skipped.csv")


def predict(args) -> int:
    path = model_file(args.model)  # argument errors first, before the slow imports
    files = image_files(args.images)
    import pandas as pd
    from tqdm import tqdm

    from .io import atomic_path
    from .nets.model_files import training_prior
    from .training.runtime import select_device, use_threads
    from .training.tensors import to_unit_range
    from .verdict.prediction import logit_adjusted, predict_proba

    use_threads(args.threads)
    model, spec = load_model(path)
    prior = training_prior(spec) if args.logit_adjustment else None
    images, files, skipped = readable_images(
        files, tuple(spec["image_size"]), spec["in_channels"], args.skip_bad_images
    )
    device = select_device(args.device)
    chunks = []
    for start in tqdm(
        range(0, len(images), args.batch_size), desc="classifying", unit="batch", file=sys.stderr
    ):
        batch = to_unit_range(images[start : start + args.batch_size])
        chunks.append(predict_proba(model, batch, args.batch_size, device, args.test_time_flip))
    probabilities = np.concatenate(chunks)
    if args.logit_adjustment:
        probabilities = logit_adjusted(probabilities, prior, args.logit_adjustment)
    names = list(spec["class_names"])
    table = pd.DataFrame(
        {
            "file": [str(f) for f in files],
            "predicted": [names[i] for i in probabilities.argmax(1)],
            "confidence": probabilities.max(1),
        }
    )
    for c, name in enumerate(names):
        table[f"p_{name}"] = probabilities[:, c]
    if args.out:
        if args.skip_bad_images:  # written even when empty: an older list must not linger
            reasons = pd.DataFrame(
                {"file": [str(e.path) for e in skipped], "reason": [e.reason for e in skipped]}
            )
            with atomic_path(skipped_file(args.out)) as tmp:
                reasons.to_csv(tmp, index=False)
            log.info("%d skipped files listed in %s", len(skipped), skipped_file(args.out))
        with atomic_path(args.out) as tmp:
            table.to_csv(tmp, index=False)
        log.info("%d predictions written to %s", len(table), args.out)
    else:
        table.to_csv(sys.stdout, index=False)
    return 0


def inspect(args) -> int:
    from .data import inspection
    from .training.proposal import parse_duration, sized_run

    if args.write and Path(args.write).exists() and not args.force:  # before the slow reading
        raise UsageError(f"{args.write} exists; choose another name, or pass --force to replace it")
    folder, category = Path(args.folder), args.mvtec
    if category is None and inspection.mvtec_category(folder):
        folder, category = folder.parent, folder.name  # FOLDER is a category folder itself
        log.info("%s is laid out as an MVTec AD category: reading it as one", args.folder)
    # the data package's own log lines (readers, split) repeat what the command prints
    logging.getLogger("latentbalance.data").setLevel(logging.WARNING)
    try:
        parse_duration(args.budget or "1s")  # a wrong --budget stops before the slow reading
        found = inspection.inspect_source(folder, category)
    except (FileNotFoundError, ValueError) as error:
        raise UsageError(str(error)) from error
    print(inspection.describe(found))
    name, cost, notes = args.name or inspection.dataset_name(found), None, []
    try:
        config, table = inspection.fitting_config(found, args.test_fraction, args.seed, name)
        if args.write or args.budget:  # time the networks, size the run for the budget
            config, table, cost, notes = sized_run(found, config, table, args.budget)
    except inspection.DoesNotFit as error:
        raise UsageError(f"no config fits {args.folder}: {error}") from error
    print("\n" + inspection.describe_split(config, table) + (f"\n\n{cost}" if cost else ""))
    print("\nThe datasets block (--write FILE writes a whole config around it):")
    print(inspection.to_yaml({"datasets": config["datasets"]}), end="")
    if args.write:
        header = inspection.config_header(found, config, inspection.command_line(args), notes)
        text = header + inspection.to_yaml(config)
        try:
            inspection.write_config(args.write, text, args.force)
        except FileExistsError as error:
            raise UsageError(str(error)) from error
        print(f"\nwrote {args.write}: snakemake --cores all --configfile {args.write}")
    return 0


def dataset_name(text: str) -> str:
    pattern = setting("datasets")["propertyNames"]["pattern"]
    if not re.fullmatch(pattern, text):
        raise argparse.ArgumentTypeError(
            f"{text!r} cannot name results/<name>/: use letters, digits, _ and . (not first)"
        )
    return text


def fraction(text: str) -> float:
    value = float(text)
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1, not {text}")
    return value


# what `evaluate --out` writes, as the workflow's evaluate rule names them
EVALUATION_FILES = {
    "metrics": "metrics.json",
    "per_class": "per_class.csv",
    "confusion": "confusion.png",
    "confusion_table": "confusion.csv",
    "predictions": "predictions.csv",
    "prediction_grid": "prediction_grid.png",
}


def evaluate(args) -> int:
    path = model_file(args.model)
    from .settings.recipes import Compute, EvaluationRecipe
    from .stages import evaluate as evaluate_stage
    from .training.runtime import use_threads

    use_threads(args.threads)
    _, spec = load_model(path)  # fails early, with a clear message, on a file that is no classifier
    data = Path(args.data)
    split_dir = data.parent.parent / "split"
    split = Path(args.split) if args.split else split_dir / "split.npz"
    folds = Path(args.folds) if args.folds else split_dir / "folds.npz"
    for name, file in (("--data", data), ("--split", split), ("--folds", folds)):
        if not file.is_file():
            raise UsageError(f"{name}: {file} does not exist")
    fold = spec["fold"] if args.fold is None else args.fold
    recipe = EvaluationRecipe(args.test_time_flip, args.logit_adjustment)
    with tempfile.TemporaryDirectory() as scratch:
        out = Path(args.out) if args.out else Path(scratch)
        files = {name: [out / file] for name, file in EVALUATION_FILES.items()}
        try:
            (metrics,) = evaluate_stage(
                {"images": data, "split": split, "folds": folds, "model": path},
                fold=fold,
                testsets=[args.testset],
                recipe=recipe,
                batch_size=args.batch_size,
                compute=Compute(args.device, "fp32"),  # evaluation scores in fp32 anyway
                out=files,
            )
        except (ValueError, KeyError) as error:
            raise UsageError(str(error)) from error
    print(json.dumps(metrics, indent=2, sort_keys=True))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="latentbalance", description="Use the classifiers that a latentbalance run saved."
    )
    commands = parser.add_subparsers(dest="command", required=True)

    def common(sub):
        sub.add_argument(
            "--model",
            required=True,
            help="classifier directory (results/<dataset>/fold<k>/classifier/<method>/<arch>/) "
            "or its model.pt",
        )
        sub.add_argument("--batch-size", type=int, default=100)
        sub.add_argument("--device", choices=allowed("compute.device"), default="auto")
        sub.add_argument("--threads", type=int, default=2, help="torch threads")
        sub.add_argument(
            "--test-time-flip",
            action="store_true",
            help="average the probabilities of each image and its horizontal mirror "
            "(as a run with evaluate.test_time_flip evaluates)",
        )
        sub.add_argument(
            "--logit-adjustment",
            type=non_negative,
            default=0.0,
            metavar="TAU",
            help="divide the probabilities by the classifier's training class prior to this "
            "power (1: the balanced-accuracy decision; as evaluate.logit_adjustment does)",
        )

    predict_cmd = commands.add_parser(
        "predict",
        help="classify new images",
        description="Classify image files (or every image under folders) with a saved "
        "classifier; images are converted to its channels and resized to its image size.",
    )
    common(predict_cmd)
    predict_cmd.add_argument("images", nargs="+", help="image files and/or folders")
    predict_cmd.add_argument("--out", help="CSV to write (default: print to stdout)")
    predict_cmd.add_argument(
        "--skip-bad-images",
        action="store_true",
        help="predict the files that can be read and list the rest (file, reason) on stderr "
        "and, with --out X.csv, in X.skipped.csv; without it an unreadable file stops the "
        "command before it writes anything",
    )
    predict_cmd.set_defaults(run=predict)

    evaluate_cmd = commands.add_parser(
        "evaluate",
        help="re-evaluate a saved classifier on a test set",
        description="Evaluate a saved classifier on a test set of a run's cached dataset, "
        "without retraining; prints the metrics as JSON.",
    )
    common(evaluate_cmd)
    evaluate_cmd.add_argument(
        "--data", required=True, help="the run's image cache, results/<dataset>/data/images.npy"
    )
    evaluate_cmd.add_argument(
        "--split", help="split.npz (default: results/<dataset>/split/split.npz beside --data)"
    )
    evaluate_cmd.add_argument(
        "--folds", help="folds.npz (default: results/<dataset>/split/folds.npz beside --data)"
    )
    evaluate_cmd.add_argument(
        "--fold", type=int, help="fold whose holdout to use (default: the model's own fold)"
    )
    evaluate_cmd.add_argument("--testset", choices=allowed("testsets"), default="test")
    evaluate_cmd.add_argument(
        "--out", help="folder for metrics.json, per_class.csv, confusion.*, predictions.csv"
    )
    evaluate_cmd.set_defaults(run=evaluate)

    inspect_cmd = commands.add_parser(
        "inspect",
        help="what a folder of images holds, and a config that fits it",
        description="Read a folder dataset (FOLDER/<class>/**/<image>) as a run would and print "
        "its classes in the order of 'imbalance.counts', the readable images per class with "
        "their sizes and colour modes, the unreadable files and the files not read, and a "
        "datasets: block whose counts the split accepts. An MVTec AD category is read with "
        "--mvtec CATEGORY (FOLDER holds CATEGORY/), or when FOLDER itself is laid out as one "
        "(train/good/ and test/).",
    )
    inspect_cmd.add_argument(
        "folder", metavar="FOLDER", help="one subfolder per class (or see --mvtec)"
    )
    inspect_cmd.add_argument(
        "--mvtec", metavar="CATEGORY", help="read FOLDER/CATEGORY as an MVTec AD category"
    )
    inspect_cmd.add_argument(
        "--test-fraction",
        type=fraction,
        metavar="F",
        default=setting("datasets.*.test_fraction")["default"],
        help="share of each class held out as the independent test set (default: %(default)s)",
    )
    inspect_cmd.add_argument(
        "--seed",
        type=int,
        default=setting("seed")["default"],
        help="the config's seed, with which the split is checked (default: %(default)s)",
    )
    inspect_cmd.add_argument(
        "--name",
        type=dataset_name,
        help="dataset name, the results/<name>/ folder (default: from FOLDER's name)",
    )
    inspect_cmd.add_argument(
        "--write",
        metavar="FILE",
        help="write a whole config: this dataset, a small run, every other key at its default",
    )
    inspect_cmd.add_argument(
        "--budget",
        metavar="TIME",
        help="time the written run may take here, e.g. 1h, 90m, 1h30m (default with --write: "
        "4h): its image_size, stem, folds and epochs are chosen to fit it, timed on this machine",
    )
    inspect_cmd.add_argument("--force", action="store_true", help="let --write replace FILE")
    inspect_cmd.set_defaults(run=inspect)
    return parser


def main(argv=None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s: %(message)s", stream=sys.stderr)
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.run(args)
    except UsageError as error:
        print(f"latentbalance {args.command}: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
