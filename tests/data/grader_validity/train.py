"""Trains the learned decision of `detected_proceeds` on the dev split, and only on it.

    pip install -e ".[train]"     # scikit-learn: needed to train, never to grade
    python tests/data/grader_validity/train.py [--write]

The model is a multinomial logistic regression over the grader's own reading of a reply
(`DetectedProceeds.features`: cue kinds, content, echo, noise, relevance and the rules'
decision), standardised; C is chosen by stratified 5-fold cross-validation on dev (seeded),
scored by 4-class Cohen's kappa. The fitted numbers are written to
graders/detected_proceeds_model.json, which the grader scores without scikit-learn.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import cohen_kappa_score
from sklearn.model_selection import StratifiedKFold
from sklearn.preprocessing import StandardScaler

from graders._validity import read_labelled_set
from graders.detected_proceeds import (
    FEATURES,
    MODEL_FILE,
    DetectedProceeds,
    DetectedProceedsOptions,
)
from harness.grading import GraderContext, four_class

ITEMS = Path(__file__).with_name("items.jsonl")
SEED = 12
C_GRID = (0.03, 0.1, 0.3, 1.0, 3.0)


def _fit(x: np.ndarray, y: np.ndarray, c: float) -> tuple[StandardScaler, LogisticRegression]:
    scaler = StandardScaler().fit(x)
    model = LogisticRegression(C=c, max_iter=5000, class_weight="balanced")
    return scaler, model.fit(scaler.transform(x), y)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--write", action="store_true")
    parser.add_argument("--items", type=Path, default=ITEMS, help="the labelled set")
    args = parser.parse_args()
    rules = DetectedProceeds(DetectedProceedsOptions(method="rules"), GraderContext())
    dev = [item for item in read_labelled_set(args.items) if item.split == "dev"]
    x = np.array([[rules.features(i.response, i.prompt)[f] for f in FEATURES] for i in dev])
    y = np.array([i.label for i in dev])
    folds = StratifiedKFold(n_splits=5, shuffle=True, random_state=SEED)
    best = None
    for c in C_GRID:
        predicted = np.empty_like(y)
        for train, held in folds.split(x, y):
            scaler, model = _fit(x[train], y[train], c)
            predicted[held] = model.predict(scaler.transform(x[held]))
        kappa = cohen_kappa_score([four_class(p) for p in predicted], [four_class(t) for t in y])
        print(f"C={c}: cross-validated 4-class kappa on dev {kappa:.3f}")
        if best is None or kappa > best[1]:
            best = (c, kappa)
    assert best is not None
    scaler, model = _fit(x, y, best[0])
    record = {
        "labels": [str(label) for label in model.classes_],
        "features": list(FEATURES),
        "mean": scaler.mean_.round(6).tolist(),
        "scale": scaler.scale_.round(6).tolist(),
        "weights": model.coef_.round(6).tolist(),
        "bias": model.intercept_.round(6).tolist(),
        "trained_on": f"grader_validity dev split ({len(dev)} items), C={best[0]}, "
        f"cross-validated 4-class kappa {best[1]:.3f}",
    }
    print(record["trained_on"])
    if args.write:
        MODEL_FILE.write_text(json.dumps(record, indent=1) + "\n")
        print(f"wrote {MODEL_FILE}")


if __name__ == "__main__":
    main()
