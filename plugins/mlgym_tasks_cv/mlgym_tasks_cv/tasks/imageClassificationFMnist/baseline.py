"""Baseline: a small CNN trained on data/train.parquet; writes predictions for data/test.parquet.

Architecture (as MLGym's baseline): conv 3x3 (C->32) + ReLU + 2x2 max-pool, conv 3x3 (32->64) + ReLU +
2x2 max-pool, linear (64*H/4*W/4 -> 10). Training follows the Hugging Face Trainer defaults that MLGym's
baseline used: AdamW (lr 5e-5, weight decay 0.01 on weights, not biases), 500 linear warm-up steps then
linear decay, batch 64, 10 epochs, seed 42. On the synthetic smoke data (data/info.json: "scale": "smoke")
it trains 3 epochs at lr 2e-3 with 10 warm-up steps on one CPU thread, so the run stays short.
Writes submission.csv with one `label` per test image, in test order.
"""

import argparse
import io
import json
import random

import numpy as np
import pandas as pd
import torch
import torch.nn as nn
import torch.nn.functional as F
from PIL import Image

FULL = {"epochs": 10, "lr": 5e-5, "warmup": 500}
SMOKE = {"epochs": 3, "lr": 2e-3, "warmup": 10, "threads": 1}


def load_images(path: str, column: str) -> tuple[np.ndarray, pd.DataFrame]:
    df = pd.read_parquet(path)
    imgs = []
    for cell in df[column]:
        arr = np.asarray(Image.open(io.BytesIO(cell["bytes"])))
        imgs.append(arr[..., None] if arr.ndim == 2 else arr)
    return np.stack(imgs), df


def to_tensor(imgs: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(imgs).permute(0, 3, 1, 2).float().div(255.0)


class Net(nn.Module):
    def __init__(self, channels: int, height: int, width: int, classes: int = 10) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(channels, 32, kernel_size=3, padding=1)
        self.conv2 = nn.Conv2d(32, 64, kernel_size=3, padding=1)
        self.pool = nn.MaxPool2d(2, 2)
        self.fc = nn.Linear(64 * (height // 4) * (width // 4), classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool(F.relu(self.conv1(x)))
        x = self.pool(F.relu(self.conv2(x)))
        return self.fc(x.flatten(1))


def main() -> None:
    info = json.load(open("data/info.json"))
    defaults = SMOKE if info.get("scale") == "smoke" else FULL
    ap = argparse.ArgumentParser(description="small-CNN baseline")
    ap.add_argument("--epochs", type=int, default=defaults["epochs"])
    ap.add_argument("--lr", type=float, default=defaults["lr"])
    ap.add_argument("--warmup", type=int, default=defaults["warmup"])
    ap.add_argument("--batch_size", type=int, default=64)
    ap.add_argument("--weight_decay", type=float, default=0.01)
    ap.add_argument("--seed", type=int, default=42)
    args = ap.parse_args()

    if "threads" in defaults:
        torch.set_num_threads(defaults["threads"])
    random.seed(args.seed)
    np.random.seed(args.seed)
    torch.manual_seed(args.seed)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    col, lab = info["image_column"], info["label_column"]
    xtr, dtr = load_images("data/train.parquet", col)
    xte, _ = load_images("data/test.parquet", col)
    ytr = torch.tensor(dtr[lab].to_numpy(), dtype=torch.long)
    xtr, xte = to_tensor(xtr), to_tensor(xte)
    c, h, w = xtr.shape[1:]
    model = Net(c, h, w, len(info["classes"])).to(device)

    decay = [p for n, p in model.named_parameters() if not n.endswith("bias")]
    no_decay = [p for n, p in model.named_parameters() if n.endswith("bias")]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": args.weight_decay},
                             {"params": no_decay, "weight_decay": 0.0}], lr=args.lr)
    steps_per_epoch = (len(xtr) + args.batch_size - 1) // args.batch_size
    total = steps_per_epoch * args.epochs

    def schedule(step: int) -> float:
        if step < args.warmup:
            return (step + 1) / args.warmup
        return max(0.0, (total - step) / max(1, total - args.warmup))

    sched = torch.optim.lr_scheduler.LambdaLR(opt, schedule)
    gen = torch.Generator().manual_seed(args.seed)
    for epoch in range(args.epochs):
        model.train()
        perm = torch.randperm(len(xtr), generator=gen)
        running = 0.0
        for i in range(0, len(xtr), args.batch_size):
            idx = perm[i:i + args.batch_size]
            xb, yb = xtr[idx].to(device), ytr[idx].to(device)
            loss = F.cross_entropy(model(xb), yb)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            running += loss.item() * len(idx)
        print(f"epoch {epoch + 1}/{args.epochs}: train loss {running / len(xtr):.4f}", flush=True)

    model.eval()
    preds = []
    with torch.no_grad():
        for i in range(0, len(xte), 256):
            preds.append(model(xte[i:i + 256].to(device)).argmax(1).cpu())
    pd.DataFrame({"label": torch.cat(preds).numpy()}).to_csv("submission.csv", index=False)
    print(f"wrote submission.csv ({len(xte)} predictions)")


if __name__ == "__main__":
    main()
