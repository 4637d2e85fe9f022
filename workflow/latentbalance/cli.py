"""The ``latentbalance`` command: use the classifiers a workflow run saved.

    latentbalance predict --model results/<ds>/fold0/classifier/smote-ae/resnet18 new_images/
    latentbalance evaluate --model results/<ds>/fold0/classifier/smote-ae/resnet18 \\
        --data results/<ds>/data/images.npz --testset test --out my_eval/
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import tempfile
from pathlib import Path

import numpy as np

from .choices import allowed

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
    from .models import load_classifier

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
    from .images import IMAGE_SUFFIXES, find_images

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


def read_images(files, size, channels: int) -> np.ndarray:
    """Every file as uint8 (N, C, H, W); all unreadable files are reported together."""
    from tqdm import tqdm

    from .images import BadImageError, read_image

    images, bad = [], []
    for path in tqdm(files, desc="reading images", unit="image", file=sys.stderr):
        try:
            images.append(read_image(path, size, channels))
        except BadImageError as error:
            bad.append(str(error))
    if bad:
        shown = "\n  ".join(bad[:20]) + (
            f"\n  ... and {len(bad) - 20} more" if len(bad) > 20 else ""
        )
        raise UsageError(
            f"{len(bad)} of {len(files)} files cannot be read as images:\n  {shown}\n"
            "remove or replace them and run again (nothing was written)"
        )
    return np.stack(images)


def predict(args) -> int:
    path = model_file(args.model)  # argument errors first, before the slow imports
    files = image_files(args.images)
    import pandas as pd
    import torch
    from tqdm import tqdm

    from .io import atomic_path
    from .models import training_prior
    from .prediction import logit_adjusted, predict_proba
    from .runtime import Precision, select_device
    from .tensors import to_unit_range

    torch.set_num_threads(args.threads)
    model, spec = load_model(path)
    prior = training_prior(spec) if args.logit_adjustment else None
    images = read_images(files, tuple(spec["image_size"]), spec["in_channels"])
    device = select_device(args.device)
    precision = Precision(device, args.precision)
    chunks = []
    for start in tqdm(
        range(0, len(images), args.batch_size), desc="classifying", unit="batch", file=sys.stderr
    ):
        batch = to_unit_range(images[start : start + args.batch_size])
        chunks.append(
            predict_proba(model, batch, args.batch_size, device, precision, args.test_time_flip)
        )
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
        with atomic_path(args.out) as tmp:
            table.to_csv(tmp, index=False)
        log.info("%d predictions written to %s", len(table), args.out)
    else:
        table.to_csv(sys.stdout, index=False)
    return 0


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
    import torch

    from .recipes import Compute, EvaluationRecipe
    from .stages import evaluate as evaluate_stage

    torch.set_num_threads(args.threads)
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
                data,
                split,
                folds,
                path,
                fold=fold,
                testsets=[args.testset],
                recipe=recipe,
                batch_size=args.batch_size,
                compute=Compute(args.device, args.precision),
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
        sub.add_argument("--precision", choices=allowed("compute.precision"), default="auto")
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
    predict_cmd.set_defaults(run=predict)

    evaluate_cmd = commands.add_parser(
        "evaluate",
        help="re-evaluate a saved classifier on a test set",
        description="Evaluate a saved classifier on a test set of a run's cached dataset, "
        "without retraining; prints the metrics as JSON.",
    )
    common(evaluate_cmd)
    evaluate_cmd.add_argument(
        "--data", required=True, help="the run's cached dataset, results/<dataset>/data/images.npz"
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
