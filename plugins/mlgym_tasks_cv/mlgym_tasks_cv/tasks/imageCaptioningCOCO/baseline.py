"""Baseline captioner: CNN image encoder + one-layer LSTM decoder; writes submission.csv (image_id, caption).

Model (as MLGym's baseline): image features -> linear layer + batch norm -> embedding of size 256 -> the first
input of a one-layer LSTM (hidden size 512) that predicts the caption word by word. Vocabulary: words that
occur at least 5 times in the training captions (same tokenization as evaluate.py). Training: 2 epochs over
all (image, caption) pairs, batch 128, Adam lr 1e-3. Captions of the validation images are decoded greedily,
up to 30 words.

Image encoder, with no download at run time:
* if data/resnet50.pth exists (or --encoder_weights PATH is given): a frozen ResNet-50 (defined here, with
  torchvision's state_dict layout, so torchvision's ImageNet weights file loads into it), as MLGym used;
* otherwise a small CNN (four strided 3x3 convolutions) trained from scratch together with the decoder.
On the synthetic smoke data (data/info.json "scale": "smoke") sizes shrink: 32-pixel images, embedding 64,
hidden 128, vocabulary threshold 1, 5 epochs of batch 32 at lr 3e-3 on one CPU thread.
"""

import argparse
import json
import random
import re
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import torch.nn as nn
import torch.nn.functional as F
from PIL import Image

FULL = {"epochs": 2, "batch_size": 128, "lr": 1e-3, "embed": 256, "hidden": 512, "image_size": 224,
        "min_freq": 5}
SMOKE = {"epochs": 5, "batch_size": 32, "lr": 3e-3, "embed": 64, "hidden": 128, "image_size": 32,
         "min_freq": 1, "threads": 1}
TOKEN = re.compile(r"[a-z0-9]+(?:'[a-z0-9]+)*")
PAD, START, END, UNK = "<pad>", "<start>", "<end>", "<unk>"
MEAN = torch.tensor([0.485, 0.456, 0.406]).view(3, 1, 1)
STD = torch.tensor([0.229, 0.224, 0.225]).view(3, 1, 1)


def tokenize(text: str) -> list[str]:
    return TOKEN.findall(text.lower())


# -- ResNet-50 with torchvision's parameter names ------------------------------------------------------------
class Bottleneck(nn.Module):
    def __init__(self, cin: int, width: int, stride: int) -> None:
        super().__init__()
        cout = width * 4
        self.conv1 = nn.Conv2d(cin, width, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, width, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3 = nn.Conv2d(width, cout, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(cout)
        self.downsample = None
        if stride != 1 or cin != cout:
            self.downsample = nn.Sequential(nn.Conv2d(cin, cout, 1, stride=stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = F.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return F.relu(out + (x if self.downsample is None else self.downsample(x)))


class ResNet50(nn.Module):
    out_features = 2048

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        cin = 64
        for i, (width, blocks, stride) in enumerate([(64, 3, 1), (128, 4, 2), (256, 6, 2), (512, 3, 2)], start=1):
            layers = []
            for b in range(blocks):
                layers.append(Bottleneck(cin, width, stride if b == 0 else 1))
                cin = width * 4
            setattr(self, f"layer{i}", nn.Sequential(*layers))
        self.fc = nn.Linear(2048, 1000)  # kept so the ImageNet state_dict loads strictly; unused

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.max_pool2d(F.relu(self.bn1(self.conv1(x))), 3, stride=2, padding=1)
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return x.mean(dim=(2, 3))


class SmallCNN(nn.Module):
    out_features = 128

    def __init__(self) -> None:
        super().__init__()
        chans = [3, 32, 64, 128, 128]
        self.convs = nn.ModuleList(nn.Conv2d(a, b, 3, stride=2, padding=1) for a, b in zip(chans, chans[1:]))
        self.bns = nn.ModuleList(nn.BatchNorm2d(b) for b in chans[1:])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for conv, bn in zip(self.convs, self.bns):
            x = F.relu(bn(conv(x)))
        return x.mean(dim=(2, 3))


class Captioner(nn.Module):
    def __init__(self, encoder: nn.Module, frozen: bool, vocab: int, embed: int, hidden: int) -> None:
        super().__init__()
        self.encoder, self.frozen = encoder, frozen
        self.project = nn.Linear(encoder.out_features, embed)
        self.bn = nn.BatchNorm1d(embed)
        self.embed = nn.Embedding(vocab, embed)
        self.lstm = nn.LSTM(embed, hidden, num_layers=1, batch_first=True)
        self.out = nn.Linear(hidden, vocab)

    def features(self, images: torch.Tensor) -> torch.Tensor:
        if self.frozen:
            self.encoder.eval()
            with torch.no_grad():
                f = self.encoder(images)
        else:
            f = self.encoder(images)
        return self.bn(self.project(f))

    def forward(self, images: torch.Tensor, captions: torch.Tensor) -> torch.Tensor:
        x = torch.cat([self.features(images).unsqueeze(1), self.embed(captions[:, :-1])], dim=1)
        h, _ = self.lstm(x)
        return self.out(h)

    @torch.no_grad()
    def generate(self, images: torch.Tensor, start: int, end: int, max_len: int = 30) -> list[list[int]]:
        x = self.features(images).unsqueeze(1)
        state = None
        words: list[list[int]] = [[] for _ in range(len(images))]
        done = torch.zeros(len(images), dtype=torch.bool)
        for _ in range(max_len + 1):
            h, state = self.lstm(x, state)
            tok = self.out(h[:, -1]).argmax(-1)
            for i, t in enumerate(tok.tolist()):
                if not done[i] and t not in (start, end):
                    words[i].append(t)
            done |= (tok == end).cpu()
            if done.all():
                break
            x = self.embed(tok).unsqueeze(1)
        return [w[:max_len] for w in words]


def load_image(path: Path, size: int) -> torch.Tensor:
    img = Image.open(path).convert("RGB").resize((size, size), Image.BILINEAR)
    t = torch.from_numpy(np.asarray(img).copy()).permute(2, 0, 1).float().div(255.0)
    return (t - MEAN) / STD


class Images(torch.utils.data.Dataset):
    def __init__(self, folder: Path, names: list[str], size: int) -> None:
        self.folder, self.names, self.size = folder, names, size

    def __len__(self) -> int:
        return len(self.names)

    def __getitem__(self, i: int) -> torch.Tensor:
        return load_image(self.folder / self.names[i], self.size)


class Pairs(torch.utils.data.Dataset):
    def __init__(self, images: Images, pairs: list[tuple[int, list[int]]]) -> None:
        self.images, self.pairs = images, pairs

    def __len__(self) -> int:
        return len(self.pairs)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, list[int]]:
        j, ids = self.pairs[i]
        return self.images[j], ids


def main() -> None:
    info = json.load(open("data/info.json"))
    d = SMOKE if info.get("scale") == "smoke" else FULL
    ap = argparse.ArgumentParser(description="CNN + LSTM captioning baseline")
    for k in ("epochs", "batch_size", "embed", "hidden", "image_size", "min_freq"):
        ap.add_argument(f"--{k}", type=int, default=d[k])
    ap.add_argument("--lr", type=float, default=d["lr"])
    ap.add_argument("--max_len", type=int, default=30)
    ap.add_argument("--encoder_weights", default="data/resnet50.pth",
                    help="ResNet-50 state_dict (torchvision layout); when missing a small CNN is trained")
    ap.add_argument("--workers", type=int, default=0 if info.get("scale") == "smoke" else 4)
    ap.add_argument("--seed", type=int, default=42)
    args = ap.parse_args()
    if "threads" in d:
        torch.set_num_threads(d["threads"])
    random.seed(args.seed)
    np.random.seed(args.seed)
    torch.manual_seed(args.seed)
    device = "cuda" if torch.cuda.is_available() else "cpu"

    train = pd.read_parquet("data/train_images.parquet")
    val = pd.read_parquet("data/val_images.parquet")
    counts = Counter(w for anns in train["anns"] for a in anns for w in tokenize(a["caption"]))
    itos = [PAD, START, END, UNK] + sorted(w for w, c in counts.items() if c >= args.min_freq)
    stoi = {w: i for i, w in enumerate(itos)}
    pairs = [(j, [1] + [stoi.get(w, 3) for w in tokenize(a["caption"])][:args.max_len] + [2])
             for j, anns in enumerate(train["anns"]) for a in anns]
    print(f"{len(train)} training images, {len(pairs)} captions, vocabulary {len(itos)}", flush=True)

    if Path(args.encoder_weights).is_file():
        encoder, frozen = ResNet50(), True
        encoder.load_state_dict(torch.load(args.encoder_weights, map_location="cpu"))
        print(f"encoder: frozen ResNet-50 from {args.encoder_weights}")
    else:
        encoder, frozen = SmallCNN(), False
        print("encoder: small CNN trained from scratch (no data/resnet50.pth)")
    model = Captioner(encoder, frozen, len(itos), args.embed, args.hidden).to(device)
    params = [p for n, p in model.named_parameters() if not (frozen and n.startswith("encoder."))]
    opt = torch.optim.Adam(params, lr=args.lr)

    def collate(batch):
        imgs = torch.stack([b[0] for b in batch])
        longest = max(len(b[1]) for b in batch)
        caps = torch.zeros(len(batch), longest, dtype=torch.long)
        for i, (_, ids) in enumerate(batch):
            caps[i, :len(ids)] = torch.tensor(ids)
        return imgs, caps

    train_images = Images(Path("data/train"), train["file_name"].tolist(), args.image_size)
    if info.get("scale") == "smoke":  # tiny: decode every image once
        cached = [train_images[i] for i in range(len(train_images))]
        train_images = cached  # type: ignore[assignment]
    loader = torch.utils.data.DataLoader(Pairs(train_images, pairs), batch_size=args.batch_size, shuffle=True,
                                         collate_fn=collate, num_workers=args.workers,
                                         generator=torch.Generator().manual_seed(args.seed))
    for epoch in range(args.epochs):
        model.train()
        total, n = 0.0, 0
        for imgs, caps in loader:
            imgs, caps = imgs.to(device), caps.to(device)
            logits = model(imgs, caps)  # position t predicts token t (the first is <start>)
            loss = F.cross_entropy(logits.reshape(-1, len(itos)), caps.reshape(-1), ignore_index=0)
            opt.zero_grad()
            loss.backward()
            opt.step()
            total, n = total + loss.item(), n + 1
        print(f"epoch {epoch + 1}/{args.epochs}: loss {total / max(n, 1):.4f}", flush=True)

    model.eval()
    val_images = Images(Path("data/val"), val["file_name"].tolist(), args.image_size)
    vloader = torch.utils.data.DataLoader(val_images, batch_size=64, num_workers=args.workers)
    captions = []
    for imgs in vloader:
        for ids in model.generate(imgs.to(device), 1, 2, args.max_len):
            captions.append(" ".join(itos[i] for i in ids))
    pd.DataFrame({"image_id": val["id"].astype(int), "caption": captions}).to_csv("submission.csv", index=False)
    print(f"wrote submission.csv ({len(captions)} captions)")


if __name__ == "__main__":
    main()
