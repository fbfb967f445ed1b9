"""Datasets of the CV pack: real loading (Hugging Face hub or a local folder) and seeded synthetic stand-ins.

Every dataset is prepared once, through core's data cache (:mod:`mlgym_core.datacache`), into
``data_home()/tasks_cv/<dataset>/<variant>-v<FORMAT>/`` with two folders:

* ``agent/``  what the agent sees read-only at ``workspace/data``: training data with labels and the test
  inputs without labels, plus ``info.json``;
* ``grader/`` what only the grading sandbox sees at ``workspace/data``: the test labels / reference captions.

Variants: ``smoke`` (seeded synthetic data, tiny) and ``full`` (the real data). Real data comes from
``$MLGYM_DATA_DIR/<dataset>/`` when that folder exists (the hub's parquet files, or for COCO the MLGym layout),
else from the Hugging Face hub. Heavy modules (PIL, pyarrow, datasets) are imported inside functions.
"""

from __future__ import annotations

import io
import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from mlgym_core import DataSource, DataUnavailableError, MlgymError, data_home, datacache

FORMAT = 1

CIFAR10_CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
FMNIST_CLASSES = ["T - shirt / top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker",
                  "Bag", "Ankle boot"]

CLASSIFICATION: dict[str, dict[str, Any]] = {
    "cifar10": {"hub": "uoft-cs/cifar10", "image": "img", "label": "label", "shape": (32, 32, 3),
                "classes": CIFAR10_CLASSES, "smoke": (600, 200), "seed": 1010, "separation": 0.35},
    "fashion_mnist": {"hub": "zalando-datasets/fashion_mnist", "image": "image", "label": "label",
                      "shape": (28, 28, 1), "classes": FMNIST_CLASSES, "smoke": (600, 200), "seed": 2020,
                      "separation": 0.7},
}
COCO_SMOKE = {"train": 200, "val": 40, "size": 32, "seed": 3030}
COCO_FILES = ("train_images.parquet", "val_images.parquet", "train", "val")
SMOKE_HINT = "run with --scale smoke for synthetic data"


def data_source(dataset: str) -> DataSource:
    """Where the real data of ``dataset`` comes from."""
    if dataset == "coco":
        return DataSource(dataset="coco", files=COCO_FILES, hint=SMOKE_HINT, layout=(
            "MLGym's layout: train_images.parquet, val_images.parquet (columns 'file_name' and 'anns', a list of "
            "{'caption': ...}), train/, val/, optionally resnet50.pth (torchvision ImageNet weights) for the "
            "baseline encoder"))
    cfg = CLASSIFICATION[dataset]
    return DataSource(dataset=dataset, hub=cfg["hub"], hint=SMOKE_HINT, layout=(
        f"the hub's parquet files (train-*.parquet and test-*.parquet with columns '{cfg['image']}', "
        f"'{cfg['label']}')"))


def local_dir(dataset: str) -> Path | None:
    """``$MLGYM_DATA_DIR/<dataset>`` when it exists."""
    return datacache.local_dir(dataset)


def cache_key(dataset: str, scale: str) -> str:
    variant = "smoke" if scale == "smoke" else "full"
    return f"tasks_cv/{dataset}/{variant}-v{FORMAT}"


def cache_dir(dataset: str, scale: str) -> Path:
    return data_home() / cache_key(dataset, scale)


def sources(dataset: str, scale: str) -> list[DataSource]:
    """What ``prepare(dataset, scale)`` still needs from outside (nothing once prepared, or for smoke)."""
    return [] if scale == "smoke" or datacache.complete(cache_dir(dataset, scale)) else [data_source(dataset)]


def prepare(dataset: str, scale: str) -> Path:
    """Prepare ``dataset`` at ``scale`` (cached); return the folder holding ``agent/`` and ``grader/``."""
    if dataset in CLASSIFICATION:
        builder: Callable[[Path], None] = lambda out: _build_classification(dataset, scale, out)  # noqa: E731
    elif dataset == "coco":
        builder = lambda out: _build_coco(scale, out)  # noqa: E731
    else:
        raise MlgymError(f"tasks_cv: unknown dataset '{dataset}' (known: cifar10, fashion_mnist, coco)")
    return datacache.prepare(cache_key(dataset, scale), builder)


# -- image classification ------------------------------------------------------------------------------------
def synthetic_classification(dataset: str, n_train: int, n_test: int
                             ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Seeded images with the real dataset's shape: each class is a smooth random template (a shared template
    plus a class part scaled by ``separation``), each image a randomly shifted, contrast-jittered, noisy copy.
    Returns uint8 (N, H, W, C) images and int64 labels for train and test."""
    cfg = CLASSIFICATION[dataset]
    h, w, c = cfg["shape"]
    k = len(cfg["classes"])
    rng = np.random.default_rng(cfg["seed"])
    coarse = rng.normal(size=(1, 4, 4, c)) + cfg["separation"] * rng.normal(size=(k, 4, 4, c))
    protos = np.kron(coarse, np.ones((1, (h + 3) // 4, (w + 3) // 4, 1)))[:, :h, :w, :]

    def draw(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
        r = np.random.default_rng(seed)
        labels = r.integers(0, k, size=n)
        imgs = np.empty((n, h, w, c), dtype=np.float64)
        for i, lab in enumerate(labels):
            dy, dx = r.integers(-3, 4, size=2)
            img = np.roll(protos[lab], (int(dy), int(dx)), axis=(0, 1)) * r.uniform(0.6, 1.4)
            imgs[i] = img + r.normal(scale=1.0, size=(h, w, c)) + r.normal(scale=0.3)
        out = np.clip(128 + 40 * imgs, 0, 255).astype(np.uint8)
        return out, labels.astype(np.int64)

    xtr, ytr = draw(n_train, cfg["seed"] + 1)
    xte, yte = draw(n_test, cfg["seed"] + 2)
    return xtr, ytr, xte, yte


def _png(arr: np.ndarray) -> bytes:
    from PIL import Image

    img = Image.fromarray(arr[..., 0] if arr.shape[-1] == 1 else arr)
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def _decode(cell: Any) -> np.ndarray:
    """An image cell (PIL image, HF ``{'bytes', 'path'}`` dict, or raw bytes) -> uint8 array (H, W, C)."""
    from PIL import Image

    if isinstance(cell, dict):
        cell = cell.get("bytes") or Path(cell["path"]).read_bytes()
    if isinstance(cell, (bytes, bytearray)):
        cell = Image.open(io.BytesIO(cell))
    arr = np.asarray(cell)
    return arr[..., None] if arr.ndim == 2 else arr


def _write_images_parquet(path: Path, images: np.ndarray, labels: np.ndarray | None, image_col: str,
                          label_col: str, classes: list[str]) -> None:
    """Parquet in the hub's schema (image struct {bytes, path} + ClassLabel), readable by pandas and by
    ``datasets.load_dataset("parquet", ...)`` with the same features as on the hub."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    cols: dict[str, Any] = {image_col: pa.array([{"bytes": _png(a), "path": None} for a in images],
                                                type=pa.struct([("bytes", pa.binary()), ("path", pa.string())]))}
    features: dict[str, Any] = {image_col: {"_type": "Image"}}
    if labels is not None:
        cols[label_col] = pa.array(labels.astype(np.int64))
        features[label_col] = {"names": classes, "_type": "ClassLabel"}
    table = pa.table(cols)
    meta = {b"huggingface": json.dumps({"info": {"features": features}}).encode()}
    pq.write_table(table.replace_schema_metadata(meta), path)


def _read_hub_parquet(folder: Path, split: str, image_col: str, label_col: str
                      ) -> tuple[np.ndarray, np.ndarray] | None:
    import pyarrow.parquet as pq

    files = sorted(p for p in folder.rglob("*.parquet")
                   if p.name.startswith(f"{split}-") or p.stem == split or p.parent.name == split)
    if not files:
        return None
    imgs, labels = [], []
    for f in files:
        t = pq.read_table(f, columns=[image_col, label_col]).to_pydict()
        imgs += [_decode(c) for c in t[image_col]]
        labels += t[label_col]
    return np.stack(imgs), np.asarray(labels, dtype=np.int64)


def load_real_classification(dataset: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The real train/test splits: ``$MLGYM_DATA_DIR/<dataset>/`` (the hub's ``train-*.parquet`` and
    ``test-*.parquet`` files, or its parquet export ``train/0000.parquet``, at any depth) when present, else
    the Hugging Face hub."""
    cfg = CLASSIFICATION[dataset]
    src = data_source(dataset)
    local = local_dir(dataset)
    if local is not None:
        tr = _read_hub_parquet(local, "train", cfg["image"], cfg["label"])
        te = _read_hub_parquet(local, "test", cfg["image"], cfg["label"])
        if tr is None or te is None:
            raise datacache.unavailable(src, f"{local} has no train-*.parquet/test-*.parquet files")
        return tr[0], tr[1], te[0], te[1]

    def load() -> Any:
        from datasets import load_dataset  # optional extra: mlgym-tasks-cv[hub]

        return load_dataset(cfg["hub"])

    ds = datacache.from_hub(src, load)
    return arrays_from_hf(dataset, ds)


def arrays_from_hf(dataset: str, ds: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Train and test arrays of a ``datasets.DatasetDict`` with the hub's columns."""
    cfg = CLASSIFICATION[dataset]
    out = []
    for split in ("train", "test"):
        part = ds[split]
        out.append(np.stack([_decode(x) for x in part[cfg["image"]]]))
        out.append(np.asarray(part[cfg["label"]], dtype=np.int64))
    return out[0], out[1], out[2], out[3]


def _build_classification(dataset: str, scale: str, out: Path) -> None:
    cfg = CLASSIFICATION[dataset]
    if scale == "smoke":
        xtr, ytr, xte, yte = synthetic_classification(dataset, *cfg["smoke"])
        source = "synthetic"
    else:
        xtr, ytr, xte, yte = load_real_classification(dataset)
        source = str(local_dir(dataset) or f"hf:{cfg['hub']}")
    agent, grader = out / "agent", out / "grader"
    _write_images_parquet(agent / "train.parquet", xtr, ytr, cfg["image"], cfg["label"], cfg["classes"])
    _write_images_parquet(agent / "test.parquet", xte, None, cfg["image"], cfg["label"], cfg["classes"])
    (grader / "test_labels.csv").write_text("label\n" + "".join(f"{int(v)}\n" for v in yte))
    info = {"dataset": dataset, "scale": scale, "source": source, "image_column": cfg["image"],
            "label_column": cfg["label"], "classes": cfg["classes"], "shape": list(cfg["shape"]),
            "num_train": int(len(ytr)), "num_test": int(len(yte))}
    (agent / "info.json").write_text(json.dumps(info, indent=1) + "\n")


# -- COCO captioning -----------------------------------------------------------------------------------------
_COLORS = {"red": (220, 30, 30), "blue": (30, 60, 220), "green": (30, 170, 60), "yellow": (235, 220, 40),
           "purple": (140, 40, 170), "orange": (245, 140, 20)}
_BACKGROUNDS = {"white": (245, 245, 245), "black": (15, 15, 15), "gray": (128, 128, 128)}
_SHAPES = ("circle", "square", "triangle")
_POSITIONS = {"left": (0.28, 0.5), "right": (0.72, 0.5), "top": (0.5, 0.28), "bottom": (0.5, 0.72),
              "center": (0.5, 0.5)}
_TEMPLATES = (
    "a {size} {color} {shape} on a {bg} background",
    "a {color} {shape} in the {pos} of the picture",
    "there is a {size} {color} {shape} near the {pos}",
    "a picture of a {color} {shape} on {bg}",
    "the {shape} is {color} and {size}",
)


def _draw_scene(r: np.random.Generator, size: int) -> tuple[np.ndarray, list[str]]:
    from PIL import Image, ImageDraw

    color = str(r.choice(list(_COLORS)))
    bg = str(r.choice(list(_BACKGROUNDS)))
    shape = str(r.choice(_SHAPES))
    pos = str(r.choice(list(_POSITIONS)))
    big = bool(r.random() < 0.5)
    img = Image.new("RGB", (size, size), _BACKGROUNDS[bg])
    d = ImageDraw.Draw(img)
    cx, cy = (v * size + r.uniform(-0.04, 0.04) * size for v in _POSITIONS[pos])
    rad = size * (0.2 if big else 0.1)
    box = (cx - rad, cy - rad, cx + rad, cy + rad)
    if shape == "circle":
        d.ellipse(box, fill=_COLORS[color])
    elif shape == "square":
        d.rectangle(box, fill=_COLORS[color])
    else:
        d.polygon([(cx, cy - rad), (cx - rad, cy + rad), (cx + rad, cy + rad)], fill=_COLORS[color])
    arr = np.asarray(img).astype(np.int16) + r.normal(scale=8, size=(size, size, 3)).astype(np.int16)
    words = {"color": color, "bg": bg, "shape": shape, "pos": pos, "size": "large" if big else "small"}
    caps = [t.format(**words) for t in _TEMPLATES]
    order = r.permutation(len(caps))
    return np.clip(arr, 0, 255).astype(np.uint8), [caps[i] for i in order]


def synthetic_coco(out_dir: Path) -> tuple[list[dict], list[dict]]:
    """COCO-like scenes (one coloured shape on a background) with 5 captions each, written as JPEG files
    under ``train/`` and ``val/``. Returns the rows of train_images.parquet and val_images.parquet."""
    from PIL import Image

    r = np.random.default_rng(COCO_SMOKE["seed"])
    rows: dict[str, list[dict]] = {"train": [], "val": []}
    ann_id = 0
    img_id = 0
    for split in ("train", "val"):
        (out_dir / split).mkdir(parents=True, exist_ok=True)
        for _ in range(COCO_SMOKE[split]):
            img_id += 1
            arr, caps = _draw_scene(r, COCO_SMOKE["size"])
            name = f"{img_id:012d}.jpg"
            Image.fromarray(arr).save(out_dir / split / name, quality=92)
            anns = []
            for c in caps:
                ann_id += 1
                anns.append({"image_id": img_id, "id": ann_id, "caption": c})
            rows[split].append({"id": img_id, "file_name": name, "height": arr.shape[0], "width": arr.shape[1],
                                "anns": anns})
    return rows["train"], rows["val"]


def _coco_rows(parquet: Path) -> list[dict]:
    import pandas as pd

    df = pd.read_parquet(parquet)
    if "file_name" not in df.columns or "anns" not in df.columns:
        raise DataUnavailableError(f"dataset 'coco': {parquet} lacks the columns 'file_name' and 'anns'")
    rows = []
    for i, rec in enumerate(df.to_dict("records")):
        anns = [dict(a) for a in rec["anns"]]
        img_id = rec.get("id", rec.get("image_id"))
        if img_id is None or img_id != img_id:
            img_id = anns[0].get("image_id", i) if anns else i
        rows.append({"id": int(img_id), "file_name": str(rec["file_name"]),
                     "height": int(rec.get("height") or 0), "width": int(rec.get("width") or 0),
                     "anns": [{"image_id": int(a.get("image_id", img_id)), "id": int(a.get("id", 0)),
                               "caption": str(a["caption"])} for a in anns]})
    return rows


def _link_tree(src: Path, dst: Path) -> None:
    """Hard-link (or copy, across file systems) the image folder ``src`` to ``dst``."""
    def _copy(s: str, d: str) -> None:
        try:
            os.link(s, d)
        except OSError:
            shutil.copy2(s, d)

    shutil.copytree(src, dst, copy_function=_copy)


def _build_coco(scale: str, out: Path) -> None:
    import pandas as pd

    agent, grader = out / "agent", out / "grader"
    if scale == "smoke":
        train, val = synthetic_coco(agent)
        source = "synthetic"
    else:
        local = datacache.require(data_source("coco"))  # raises, naming what is missing
        assert local is not None  # COCO has no hub source
        train, val = _coco_rows(local / "train_images.parquet"), _coco_rows(local / "val_images.parquet")
        _link_tree(local / "train", agent / "train")
        _link_tree(local / "val", agent / "val")
        if (local / "resnet50.pth").is_file():
            shutil.copy2(local / "resnet50.pth", agent / "resnet50.pth")
        source = str(local)
    pd.DataFrame(train).to_parquet(agent / "train_images.parquet", index=False)
    pd.DataFrame([{k: v for k, v in r.items() if k != "anns"} for r in val]).to_parquet(
        agent / "val_images.parquet", index=False)
    refs = {str(r["id"]): [a["caption"] for a in r["anns"]] for r in val}
    (grader / "val_references.json").write_text(json.dumps(refs, indent=0) + "\n")
    info = {"dataset": "coco", "scale": scale, "source": source, "num_train": len(train), "num_val": len(val),
            "captions_per_image": 5 if scale == "smoke" else None,
            "encoder_weights": "resnet50.pth" if (agent / "resnet50.pth").is_file() else None}
    (agent / "info.json").write_text(json.dumps(info, indent=1) + "\n")
