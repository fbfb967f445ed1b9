"""Seeded synthetic stand-ins for the tabular datasets (the ``smoke`` scale): the real files' schema, no real rows.

House Prices has Kaggle's 81 columns in Kaggle's order, with their dtypes (integers, floats with gaps, text
categories with gaps), plausible ranges and levels; ``SalePrice`` follows a noisy log-linear model of quality,
living area, basement, age, garage and neighbourhood, so a regression has something to learn. Titanic has
Kaggle's 12 columns; ``Survived`` depends on sex, class and age. Only the schema comes from the real files
(column names, dtypes, the most common levels, 5-95 % ranges of the non-zero values, shares of zeros and gaps).
pandas and numpy are imported inside the functions.
"""

from __future__ import annotations

from typing import Any

HOUSE_ROWS = 500
TITANIC_ROWS = (300, 120)  # train, test

# (column, kind, spec, share missing): kind "i" integer / "f" float with (low, high, share of zeros),
# "c" text with its levels (the first ones more frequent). Id first and SalePrice last, as in train.csv.
HOUSE_COLUMNS: tuple[tuple[str, str, Any, float], ...] = (
    ("MSSubClass", "i", (20, 160, 0.0), 0.0),
    ("MSZoning", "c", 'RL|RM|FV|RH|C (all)', 0.0),
    ("LotFrontage", "f", (34, 107, 0.0), 0.177),
    ("LotArea", "i", (3311.7, 17401.1, 0.0), 0.0),
    ("Street", "c", 'Pave|Grvl', 0.0),
    ("Alley", "c", 'Grvl|Pave', 0.938),
    ("LotShape", "c", 'Reg|IR1|IR2|IR3', 0.0),
    ("LandContour", "c", 'Lvl|Bnk|HLS|Low', 0.0),
    ("Utilities", "c", 'AllPub|NoSeWa', 0.0),
    ("LotConfig", "c", 'Inside|Corner|CulDSac|FR2|FR3', 0.0),
    ("LandSlope", "c", 'Gtl|Mod|Sev', 0.0),
    ("Neighborhood", "c", 'NAmes|CollgCr|OldTown|Edwards|Somerst|Gilbert|NridgHt|Sawyer', 0.0),
    ("Condition1", "c", 'Norm|Feedr|Artery|RRAn|PosN|RRAe|PosA|RRNn', 0.0),
    ("Condition2", "c", 'Norm|Feedr|Artery|RRNn|PosN|PosA|RRAn|RRAe', 0.0),
    ("BldgType", "c", '1Fam|TwnhsE|Duplex|Twnhs|2fmCon', 0.0),
    ("HouseStyle", "c", '1Story|2Story|1.5Fin|SLvl|SFoyer|1.5Unf|2.5Unf|2.5Fin', 0.0),
    ("OverallQual", "i", (1, 10, 0.0), 0.0),
    ("OverallCond", "i", (1, 9, 0.0), 0.0),
    ("YearBuilt", "i", (1916, 2007, 0.0), 0.0),
    ("YearRemodAdd", "i", (1950, 2007, 0.0), 0.0),
    ("RoofStyle", "c", 'Gable|Hip|Flat|Gambrel|Mansard|Shed', 0.0),
    ("RoofMatl", "c", 'CompShg|Tar&Grv|WdShngl|WdShake|Metal|Membran|Roll|ClyTile', 0.0),
    ("Exterior1st", "c", 'VinylSd|HdBoard|MetalSd|Wd Sdng|Plywood|CemntBd|BrkFace|WdShing', 0.0),
    ("Exterior2nd", "c", 'VinylSd|MetalSd|HdBoard|Wd Sdng|Plywood|CmentBd|Wd Shng|Stucco', 0.0),
    ("MasVnrType", "c", 'BrkFace|Stone|BrkCmn', 0.597),
    ("MasVnrArea", "f", (42, 650.5, 0.59), 0.005),
    ("ExterQual", "c", 'TA|Gd|Ex|Fa', 0.0),
    ("ExterCond", "c", 'TA|Gd|Fa|Ex|Po', 0.0),
    ("Foundation", "c", 'PConc|CBlock|BrkTil|Slab|Stone|Wood', 0.0),
    ("BsmtQual", "c", 'TA|Gd|Ex|Fa', 0.025),
    ("BsmtCond", "c", 'TA|Gd|Fa|Po', 0.025),
    ("BsmtExposure", "c", 'No|Av|Gd|Mn', 0.026),
    ("BsmtFinType1", "c", 'Unf|GLQ|ALQ|BLQ|Rec|LwQ', 0.025),
    ("BsmtFinSF1", "i", (78, 1342.8, 0.32), 0.0),
    ("BsmtFinType2", "c", 'Unf|Rec|LwQ|BLQ|ALQ|GLQ', 0.026),
    ("BsmtFinSF2", "i", (71.6, 1030.4, 0.89), 0.0),
    ("BsmtUnfSF", "i", (100, 1489, 0.08), 0.0),
    ("TotalBsmtSF", "i", (588, 1762, 0.03), 0.0),
    ("Heating", "c", 'GasA|GasW|Grav|Wall|OthW|Floor', 0.0),
    ("HeatingQC", "c", 'Ex|TA|Gd|Fa|Po', 0.0),
    ("CentralAir", "c", 'Y|N', 0.0),
    ("Electrical", "c", 'SBrkr|FuseA|FuseF|FuseP|Mix', 0.001),
    ("1stFlrSF", "i", (672.95, 1831.25, 0.0), 0.0),
    ("2ndFlrSF", "i", (406, 1305, 0.57), 0.0),
    ("LowQualFinSF", "i", (80, 524.75, 0.98), 0.0),
    ("GrLivArea", "i", (848, 2466.1, 0.0), 0.0),
    ("BsmtFullBath", "i", (1, 2, 0.59), 0.0),
    ("BsmtHalfBath", "i", (1, 1, 0.94), 0.0),
    ("FullBath", "i", (1, 2, 0.01), 0.0),
    ("HalfBath", "i", (1, 1, 0.63), 0.0),
    ("BedroomAbvGr", "i", (2, 4, 0.0), 0.0),
    ("KitchenAbvGr", "i", (1, 2, 0.0), 0.0),
    ("KitchenQual", "c", 'TA|Gd|Ex|Fa', 0.0),
    ("TotRmsAbvGrd", "i", (4, 10, 0.0), 0.0),
    ("Functional", "c", 'Typ|Min2|Min1|Mod|Maj1|Maj2|Sev', 0.0),
    ("Fireplaces", "i", (1, 2, 0.47), 0.0),
    ("FireplaceQu", "c", 'Gd|TA|Fa|Ex|Po', 0.473),
    ("GarageType", "c", 'Attchd|Detchd|BuiltIn|Basment|CarPort|2Types', 0.055),
    ("GarageYrBlt", "f", (1930, 2007, 0.0), 0.055),
    ("GarageFinish", "c", 'Unf|RFn|Fin', 0.055),
    ("GarageCars", "i", (1, 3, 0.06), 0.0),
    ("GarageArea", "i", (240, 856.1, 0.06), 0.0),
    ("GarageQual", "c", 'TA|Fa|Gd|Ex|Po', 0.055),
    ("GarageCond", "c", 'TA|Fa|Gd|Po|Ex', 0.055),
    ("PavedDrive", "c", 'Y|N|P', 0.0),
    ("WoodDeckSF", "i", (55.9, 409.5, 0.52), 0.0),
    ("OpenPorchSF", "i", (20, 228, 0.45), 0.0),
    ("EnclosedPorch", "i", (37.7, 273.95, 0.86), 0.0),
    ("3SsnPorch", "i", (101.1, 393.95, 0.98), 0.0),
    ("ScreenPorch", "i", (90, 335, 0.92), 0.0),
    ("PoolArea", "i", (489.6, 711, 0.995), 0.0),
    ("PoolQC", "c", 'Gd|Ex|Fa', 0.995),
    ("Fence", "c", 'MnPrv|GdPrv|GdWo|MnWw', 0.808),
    ("MiscFeature", "c", 'Shed|Gar2|Othr|TenC', 0.963),
    ("MiscVal", "i", (400, 2950, 0.96), 0.0),
    ("MoSold", "i", (1, 12, 0.0), 0.0),
    ("YrSold", "i", (2006, 2010, 0.0), 0.0),
    ("SaleType", "c", 'WD|New|COD|ConLD|ConLI|ConLw|CWD|Oth', 0.0),
    ("SaleCondition", "c", 'Normal|Partial|Abnorml|Family|Alloca|AdjLand', 0.0),
)


def house_prices(seed: int = 4242, rows: int = HOUSE_ROWS) -> Any:
    """A DataFrame with the columns and dtypes of Kaggle's House Prices train.csv."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    cols: dict[str, Any] = {"Id": np.arange(1, rows + 1)}
    for name, kind, spec, missing in HOUSE_COLUMNS:
        if kind == "c":
            levels = spec.split("|")
            weights = 0.5 ** np.arange(len(levels))
            values = rng.choice(np.array(levels, dtype=object), size=rows, p=weights / weights.sum())
        else:
            low, high, zeros = spec
            values = rng.integers(int(low), int(high) + 1, size=rows)
            values = np.where(rng.random(rows) < zeros, 0, values)
            values = values.astype(float if kind == "f" else np.int64)
        if missing:
            values = np.where(rng.random(rows) < missing, None if kind == "c" else np.nan, values)
        cols[name] = values
    df = pd.DataFrame(cols)
    levels = next(spec for name, _, spec, _ in HOUSE_COLUMNS if name == "Neighborhood").split("|")
    hood = dict(zip(levels, rng.normal(0, 0.15, size=len(levels))))
    log_price = (10.6 + 0.09 * df["OverallQual"] + 0.00035 * df["GrLivArea"] + 0.00015 * df["TotalBsmtSF"]
                 + 0.003 * (df["YearBuilt"] - 1970) + 0.05 * df["GarageCars"] + df["Neighborhood"].map(hood)
                 + rng.normal(0, 0.1, size=rows))
    df["SalePrice"] = np.round(np.exp(log_price)).astype(np.int64)
    return df


_SURNAMES = "Smith Brown Johnson Williams Taylor Andersson Kelly Murphy Sage Goodwin Carter Palsson".split()
_FIRST = {"male": "John William James George Charles Thomas Henry Karl".split(),
          "female": "Mary Anna Elizabeth Margaret Alice Helen Ellen Maria".split()}


def titanic(seed: int = 912) -> tuple[Any, Any, Any]:
    """``(train, test, ground_truth)`` with the columns and dtypes of Kaggle's Titanic files."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    n = sum(TITANIC_ROWS)
    sex = rng.choice(["male", "female"], size=n, p=[0.65, 0.35])
    pclass = rng.choice([1, 2, 3], size=n, p=[0.24, 0.21, 0.55])
    age = np.round(np.clip(rng.normal(30, 14, size=n), 0.42, 80), 0)
    sibsp = rng.choice([0, 1, 2, 3, 4], size=n, p=[0.68, 0.23, 0.04, 0.02, 0.03])
    parch = rng.choice([0, 1, 2, 3], size=n, p=[0.76, 0.13, 0.09, 0.02])
    fare = np.round(rng.gamma(2.0, np.select([pclass == 1, pclass == 2], [40.0, 10.0], 6.0)), 4)
    logit = 2.4 * (sex == "female") - 0.9 * (pclass - 2) - 0.025 * (age - 30) - 1.2
    survived = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(np.int64)
    title = np.where(sex == "male", np.where(age < 14, "Master", "Mr"), np.where(rng.random(n) < 0.5, "Mrs", "Miss"))
    names = [f"{rng.choice(_SURNAMES)}, {t}. {rng.choice(_FIRST[s])}" for t, s in zip(title, sex)]
    df = pd.DataFrame({
        "PassengerId": np.arange(1, n + 1), "Survived": survived, "Pclass": pclass, "Name": names, "Sex": sex,
        "Age": np.where(rng.random(n) < 0.2, np.nan, age), "SibSp": sibsp, "Parch": parch,
        "Ticket": [f"{p}{t}" for p, t in zip(rng.choice(["", "", "", "PC ", "A/5 ", "STON/O2. "], size=n),
                                             rng.integers(10000, 400000, size=n))],
        "Fare": fare,
        "Cabin": np.where(rng.random(n) < 0.77, None,
                          [f"{d}{k}" for d, k in zip(rng.choice(list("ABCDEF"), size=n), rng.integers(1, 130, n))]),
        "Embarked": np.where(rng.random(n) < 0.003, None, rng.choice(["S", "C", "Q"], size=n, p=[0.72, 0.19, 0.09])),
    })
    train, rest = df.iloc[:TITANIC_ROWS[0]], df.iloc[TITANIC_ROWS[0]:]
    return (train.reset_index(drop=True), rest.drop(columns=["Survived"]).reset_index(drop=True),
            rest[["PassengerId", "Survived"]].reset_index(drop=True))
