"""Baseline for the House Price task: ridge regression on lightly preprocessed features.

Numeric columns: mean imputation, then standard scaling. Other columns: the constant
'missing' for gaps, then one-hot encoding (categories unseen in training are ignored).
The model is fitted on data/train.csv, reported on data/validation.csv, and its
predictions for data/test.csv are written to submission.csv (Id,SalePrice).
"""

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import Ridge
from sklearn.metrics import mean_squared_error, r2_score
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

TARGET = "SalePrice"


def features(frame):
    return frame.drop(columns=[c for c in ("Id", TARGET) if c in frame.columns])


def make_model(X):
    numeric = X.select_dtypes(include="number").columns
    categorical = X.select_dtypes(exclude="number").columns
    prep = ColumnTransformer([
        ("num", Pipeline([("impute", SimpleImputer(strategy="mean")),
                          ("scale", StandardScaler())]), numeric),
        ("cat", Pipeline([("impute", SimpleImputer(strategy="constant", fill_value="missing")),
                          ("onehot", OneHotEncoder(handle_unknown="ignore", sparse_output=False))]), categorical),
    ])
    return Pipeline([("prep", prep), ("ridge", Ridge(alpha=0.1))])


def main():
    train = pd.read_csv("data/train.csv")
    validation = pd.read_csv("data/validation.csv")
    test = pd.read_csv("data/test.csv")

    X_train = features(train)
    model = make_model(X_train).fit(X_train, train[TARGET])

    pred_val = model.predict(features(validation))
    rmse = float(np.sqrt(mean_squared_error(validation[TARGET], pred_val)))
    print(f"validation rmse {rmse:.2f}  r2 {r2_score(validation[TARGET], pred_val):.4f}")

    submission = pd.DataFrame({"Id": test["Id"], TARGET: model.predict(features(test))})
    submission.to_csv("submission.csv", index=False)
    print(f"wrote submission.csv ({len(submission)} rows)")


if __name__ == "__main__":
    main()
