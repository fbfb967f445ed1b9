"""Data preparation: synthetic generators, the agent/grader split, local folders standing in for the hub,
and the one-line error when real data cannot be had."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from mlgym_tasks_cv import data


def test_synthetic_classification_shapes_and_seed():
    a = data.synthetic_classification("cifar10", 30, 10)
    b = data.synthetic_classification("cifar10", 30, 10)
    xtr, ytr, xte, yte = a
    assert xtr.shape == (30, 32, 32, 3) and xte.shape == (10, 32, 32, 3) and xtr.dtype == np.uint8
    assert ytr.min() >= 0 and ytr.max() <= 9 and ytr.dtype == np.int64
    assert all(np.array_equal(u, v) for u, v in zip(a, b))
    fx = data.synthetic_classification("fashion_mnist", 20, 5)[0]
    assert fx.shape == (20, 28, 28, 1)


@pytest.mark.parametrize("dataset,image_col", [("cifar10", "img"), ("fashion_mnist", "image")])
def test_prepared_smoke_classification(dataset, image_col):
    root = data.prepare(dataset, "smoke")
    agent, grader = root / "agent", root / "grader"
    assert sorted(p.name for p in agent.iterdir()) == ["info.json", "test.parquet", "train.parquet"]
    assert sorted(p.name for p in grader.iterdir()) == ["test_labels.csv"]
    train, test = pd.read_parquet(agent / "train.parquet"), pd.read_parquet(agent / "test.parquet")
    assert list(train.columns) == [image_col, "label"]
    assert list(test.columns) == [image_col]  # no labels for the agent
    labels = pd.read_csv(grader / "test_labels.csv")["label"]
    info = json.loads((agent / "info.json").read_text())
    assert (len(train), len(test), len(labels)) == (info["num_train"], info["num_test"], info["num_test"])
    assert info["scale"] == "smoke" and info["source"] == "synthetic"
    assert data.prepare(dataset, "smoke") == root  # cached


@pytest.mark.skipif(importlib.util.find_spec("datasets") is None, reason="datasets is not installed")
def test_parquet_carries_hub_features():
    from datasets import load_dataset

    agent = data.prepare("cifar10", "smoke") / "agent"
    train = load_dataset("parquet", data_files=str(agent / "train.parquet"), split="train")
    test = load_dataset("parquet", data_files=str(agent / "test.parquet"), split="train")
    assert train.features["label"].names == data.CIFAR10_CLASSES
    assert train[0]["img"].size == (32, 32)
    assert list(test.features) == ["img"]


def _hub_style_folder(root, dataset, image_col, layout):
    """Write the hub's parquet files for a tiny synthetic dataset, in one of the hub's two layouts."""
    xtr, ytr, xte, yte = data.synthetic_classification(dataset, 12, 5)
    classes = data.CLASSIFICATION[dataset]["classes"]
    for split, x, y in (("train", xtr, ytr), ("test", xte, yte)):
        path = root / dataset / layout.format(split=split)
        path.parent.mkdir(parents=True, exist_ok=True)
        data._write_images_parquet(path, x, y, image_col, "label", classes)
    return yte


@pytest.mark.parametrize("layout", ["plain_text/{split}-00000-of-00001.parquet", "default/{split}/0000.parquet"])
def test_local_folder_stands_in_for_the_hub(tmp_path, monkeypatch, layout):
    monkeypatch.setenv("MLGYM_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("MLGYM_DATA_DIR", str(tmp_path / "mirror"))
    yte = _hub_style_folder(tmp_path / "mirror", "fashion_mnist", "image", layout)
    root = data.prepare("fashion_mnist", "full")
    assert root == tmp_path / "home" / "tasks_cv" / "fashion_mnist" / f"full-v{data.FORMAT}"
    info = json.loads((root / "agent" / "info.json").read_text())
    assert (info["num_train"], info["num_test"], info["scale"]) == (12, 5, "full")
    assert info["source"] == str(tmp_path / "mirror" / "fashion_mnist")
    assert pd.read_csv(root / "grader" / "test_labels.csv")["label"].tolist() == yte.tolist()
    assert list(pd.read_parquet(root / "agent" / "test.parquet").columns) == ["image"]


def test_local_folder_without_splits_is_an_error(tmp_path, monkeypatch):
    monkeypatch.setenv("MLGYM_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("MLGYM_DATA_DIR", str(tmp_path))
    (tmp_path / "cifar10").mkdir()
    with pytest.raises(data.DataUnavailableError, match=r"dataset 'cifar10': .*no train-\*\.parquet"):
        data.prepare("cifar10", "full")
    assert not (tmp_path / "home" / "tasks_cv" / "cifar10" / f"full-v{data.FORMAT}").exists()


def test_hub_failure_is_one_clear_line(tmp_path):
    """No hub here (and offline mode): the error names the dataset, the hub id and the local way."""
    env = {k: v for k, v in os.environ.items() if k != "MLGYM_DATA_DIR"}
    env.update(MLGYM_HOME=str(tmp_path), HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1", HF_HOME=str(tmp_path / "hf"))
    code = ("from mlgym_tasks_cv import data\n"
            "try:\n    data.prepare('cifar10', 'full')\n"
            "except data.DataUnavailableError as e:\n    print(e)\n")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120).stdout
    line = out.strip()
    assert "\n" not in line
    assert "dataset 'cifar10'" in line and "'uoft-cs/cifar10'" in line and "Hugging Face hub" in line
    assert "$MLGYM_DATA_DIR/cifar10/" in line and "--scale smoke" in line


def test_coco_missing_is_one_clear_line(tmp_path, monkeypatch):
    monkeypatch.setenv("MLGYM_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("MLGYM_DATA_DIR", raising=False)
    with pytest.raises(data.DataUnavailableError) as err:
        data.prepare("coco", "full")
    msg = str(err.value)
    assert "\n" not in msg and "dataset 'coco'" in msg and "$MLGYM_DATA_DIR/coco/" in msg
    assert "train_images.parquet" in msg


def test_coco_local_layout(tmp_path, monkeypatch):
    """A folder in MLGym's layout (train_images.parquet, val_images.parquet, train/, val/) is used for full."""
    mirror = tmp_path / "mirror" / "coco"
    train, val = data.synthetic_coco(mirror)
    # MLGym's parquet files: file_name + anns (no `id` column needed)
    pd.DataFrame([{"file_name": r["file_name"], "anns": r["anns"]} for r in train]).to_parquet(
        mirror / "train_images.parquet")
    pd.DataFrame([{"file_name": r["file_name"], "anns": r["anns"]} for r in val]).to_parquet(
        mirror / "val_images.parquet")
    monkeypatch.setenv("MLGYM_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("MLGYM_DATA_DIR", str(tmp_path / "mirror"))
    root = data.prepare("coco", "full")
    agent_val = pd.read_parquet(root / "agent" / "val_images.parquet")
    assert "anns" not in agent_val.columns and len(agent_val) == len(val)
    assert len(list((root / "agent" / "val").iterdir())) == len(val)
    refs = json.loads((root / "grader" / "val_references.json").read_text())
    assert refs[str(val[0]["id"])] == [a["caption"] for a in val[0]["anns"]]
    assert len(pd.read_parquet(root / "agent" / "train_images.parquet")["anns"][0]) == 5


def test_prepared_smoke_coco():
    root = data.prepare("coco", "smoke")
    agent = root / "agent"
    train = pd.read_parquet(agent / "train_images.parquet")
    val = pd.read_parquet(agent / "val_images.parquet")
    assert {"id", "file_name", "anns"} <= set(train.columns) and "anns" not in val.columns
    assert all(len(a) == 5 for a in train["anns"])
    assert all((agent / "val" / f).is_file() for f in val["file_name"])
    refs = json.loads((root / "grader" / "val_references.json").read_text())
    assert sorted(map(int, refs)) == sorted(val["id"]) and all(len(r) == 5 for r in refs.values())
    assert sorted(p.name for p in (root / "grader").iterdir()) == ["val_references.json"]


def test_run_without_real_data_fails_before_a_run_directory(tmp_path, monkeypatch):
    """`mlgym run --scale full` with no COCO folder: one line naming the data, non-zero exit, no run directory."""
    from click.testing import CliRunner

    from mlgym_core.cli import cli

    monkeypatch.setenv("MLGYM_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("MLGYM_DATA_DIR", raising=False)
    res = CliRunner().invoke(cli, ["run", "--task", "imageCaptioningCOCO", "--agent", "baseline", "--scale", "full",
                                   "--output", str(tmp_path / "runs")])
    assert res.exit_code != 0
    assert "dataset 'coco': no local copy at $MLGYM_DATA_DIR/coco/" in res.output
    assert not (tmp_path / "runs").exists() and not (tmp_path / "home" / "tasks_cv").exists()


@pytest.mark.skipif(importlib.util.find_spec("datasets") is None, reason="datasets is not installed")
def test_arrays_from_a_hub_dataset():
    """The hub path's conversion, on an in-memory DatasetDict with the hub's features (grayscale PIL)."""
    from datasets import ClassLabel, Dataset, DatasetDict, Features, Image
    from PIL import Image as PILImage

    x, y, _, _ = data.synthetic_classification("fashion_mnist", 6, 1)
    feats = Features({"image": Image(), "label": ClassLabel(names=data.FMNIST_CLASSES)})
    part = Dataset.from_dict({"image": [PILImage.fromarray(a[..., 0], mode="L") for a in x],
                              "label": y.tolist()}, features=feats)
    xtr, ytr, xte, yte = data.arrays_from_hf("fashion_mnist", DatasetDict(train=part, test=part.select([0, 1])))
    assert xtr.shape == (6, 28, 28, 1) and np.array_equal(xtr, x) and ytr.tolist() == y.tolist()
    assert xte.shape == (2, 28, 28, 1) and yte.tolist() == y[:2].tolist()
