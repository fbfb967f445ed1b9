"""Baseline for the Titanic task: logistic regression on a few passenger columns.

Numeric columns (Pclass, Age, SibSp, Parch, Fare): median imputation, then standard scaling.
Sex and Embarked: most-frequent imputation, then one-hot encoding. The model is fitted on
data/train.csv, its 5-fold cross-validated accuracy is printed, and its predictions for
data/test.csv are written to submission.csv (PassengerId,Survived).
"""

import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import cross_val_score
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

NUMERIC = ["Pclass", "Age", "SibSp", "Parch", "Fare"]
CATEGORICAL = ["Sex", "Embarked"]


def make_model():
    prep = ColumnTransformer([
        ("num", Pipeline([("impute", SimpleImputer(strategy="median")),
                          ("scale", StandardScaler())]), NUMERIC),
        ("cat", Pipeline([("impute", SimpleImputer(strategy="most_frequent")),
                          ("onehot", OneHotEncoder(handle_unknown="ignore"))]), CATEGORICAL),
    ])
    return Pipeline([("prep", prep), ("logreg", LogisticRegression(max_iter=1000))])


def main():
    train = pd.read_csv("data/train.csv")
    test = pd.read_csv("data/test.csv")
    X, y = train[NUMERIC + CATEGORICAL], train["Survived"]

    cv = cross_val_score(make_model(), X, y, cv=5, scoring="accuracy")
    print(f"5-fold CV accuracy on train: {cv.mean():.4f}")

    model = make_model().fit(X, y)
    submission = pd.DataFrame({"PassengerId": test["PassengerId"],
                               "Survived": model.predict(test[NUMERIC + CATEGORICAL]).astype(int)})
    submission.to_csv("submission.csv", index=False)
    print(f"wrote submission.csv ({len(submission)} rows)")


if __name__ == "__main__":
    main()
