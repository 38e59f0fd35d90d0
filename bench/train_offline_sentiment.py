"""Train the offline sentiment model's logistic-regression head and write it to the package.

    .venv/bin/python -m bench.train_offline_sentiment          # from the repo root; needs scikit-learn

Trains ONLY on the training part of the bundled Twitter Financial News tweets (engine.sentiment.dataset);
the held-out part stays unseen for bench/sentiment_accuracy.py. The regularisation strength is chosen by
5-fold cross-validation on the training part. The result is a small JSON file that the runtime reads with
numpy alone (no scikit-learn at run time).
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, cross_val_score

from engine.sentiment.dataset import load_tweets
from engine.sentiment.offline import MODEL_FILE, rule_features
from engine.sentiment.rules import FEATURES

C_GRID = (0.3, 1.0, 3.0, 10.0)
SEED = 0


def train() -> dict:
    data = load_tweets("train")
    x = np.log1p(rule_features(data.texts))
    y = np.asarray(data.labels)
    folds = StratifiedKFold(5, shuffle=True, random_state=SEED)
    cv = {
        c: float(cross_val_score(LogisticRegression(C=c, max_iter=5000), x, y, cv=folds).mean())
        for c in C_GRID
    }
    best = max(C_GRID, key=lambda c: (round(cv[c], 3), -c))  # ties go to the stronger regularisation
    model = LogisticRegression(C=best, max_iter=5000).fit(x, y)
    return {
        "about": "Logistic regression over log1p(rule features); see engine/sentiment/offline.py",
        "trained_on": f"Twitter Financial News validation split, training part ({len(y)} tweets)",
        "features": list(FEATURES),
        "classes": [str(c) for c in model.classes_],
        "coef": np.round(model.coef_, 6).tolist(),
        "intercept": np.round(model.intercept_, 6).tolist(),
        "C": best,
        "cv_accuracy": {str(c): round(a, 4) for c, a in cv.items()},
    }


def main() -> None:
    result = train()
    path = Path(str(resources.files("engine.sentiment").joinpath("data").joinpath(MODEL_FILE)))
    path.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {path}: C={result['C']}, 5-fold CV accuracy {result['cv_accuracy']}")


if __name__ == "__main__":
    main()
