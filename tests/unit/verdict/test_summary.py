"""What the summary keeps beside the leaderboard: the configuration it was run with."""

import yaml

from latentbalance.verdict.summary import config_yaml


def test_saved_configuration_reruns_as_a_config_file():
    config = {"seed": 7, "datasets": {"digits": {"source": "digits"}}, "methods": ["none"]}
    text = config_yaml(config)
    assert text.startswith("# The configuration")
    assert yaml.safe_load(text) == config
    assert list(yaml.safe_load(text)) == ["seed", "datasets", "methods"]  # the config's order


def test_summary_labels_models_selects_on_holdouts_and_bootstraps_the_predictions(tmp_path):
    import json

    import numpy as np
    import pandas as pd

    from latentbalance.verdict.metrics import compute_metrics
    from latentbalance.verdict.summary import SummarySettings, summarize

    true = np.repeat(np.arange(3), 10)
    metric_files, prediction_files = [], []
    # smote-ae misses fewer holdout images (selected there), none fewer test images
    errors = {("smote-ae", "holdout"): 1, ("none", "holdout"): 3}
    errors |= {("smote-ae", "test"): 2, ("none", "test"): 1}
    for (method, testset), n in errors.items():
        for fold in range(3):
            folder = tmp_path / f"fold{fold}/eval/{method}/resnet18/{testset}"
            folder.mkdir(parents=True)
            predicted = true.copy()
            wrong = [i for c in range(3) for i in np.flatnonzero(true == c)[: n + fold % 2]]
            predicted[wrong] = (true[wrong] + 1) % 3
            record = {"method": method, "classifier": "resnet18", "fold": fold}
            record |= {"testset": testset} | compute_metrics(true, predicted, 3)
            (folder / "metrics.json").write_text(json.dumps(record))
            frame = pd.DataFrame({"index": np.arange(30), "true": true, "predicted": predicted})
            frame.to_csv(folder / "predictions.csv", index=False)
            metric_files.append(folder / "metrics.json")
            prediction_files.append(folder / "predictions.csv")
    out = {
        name: tmp_path / f"summary/{file}"
        for name, file in [
            ("per_fold", "per_fold.csv"),
            ("leaderboard", "board.csv"),
            ("markdown", "board.md"),
            ("plot", "bars.png"),
            ("comparison", "vs.csv"),
            ("headline", "head.txt"),
        ]
    }
    settings = SummarySettings(
        "toy",
        testsets=["test", "holdout"],
        sampler={"synthetic_share": 0.25},
        bootstrap_resamples=50,
        seed=1,
    )
    summarize({"metrics": metric_files, "predictions": prediction_files}, settings, out)
    board = pd.read_csv(out["leaderboard"])
    assert set(board["model"]) == {"smote-ae (25 % synthetic) / resnet18", "none / resnet18"}
    assert set(board["method"]) == {"smote-ae", "none"}  # the bare id stays for scripts
    assert set(pd.read_csv(out["per_fold"])["model"]) == set(board["model"])
    versus = pd.read_csv(out["comparison"])
    assert (versus["reference"] == "smote-ae (25 % synthetic) / resnet18").all()
    assert (versus["resamples"] == 50).all() and (versus["p_bootstrap"] > 0).all()
    headline = out["headline"].read_text()
    assert headline.startswith(
        "Best on acsa: smote-ae (25 % synthetic) / resnet18, selected on the folds' holdouts"
    )
    assert "vs none / resnet18 on test: -0.1000; corrected t undefined" in headline
