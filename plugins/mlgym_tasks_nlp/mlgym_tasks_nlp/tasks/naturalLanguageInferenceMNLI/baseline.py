"""Baseline: fine-tune BERT for 3-way natural language inference on data/train.jsonl.

    python baseline.py            # with several GPUs visible it relaunches itself under torchrun

Full scale (data/meta.json "scale": "full"): bert-base-uncased from data/bert-base-uncased/,
max length 128, batch 32 per GPU, 1 epoch, AdamW with lr 1e-7 (as MLGym's baseline, deliberately
tiny), mixed precision on GPU. Smoke scale: a tiny randomly initialised BERT (2 layers, width 64)
with the hash tokenizer of smoke_tokenizer.py, for a CPU check.

Writes the artifact the grader reads: bert_mnli_model/ (config.json + model.safetensors).
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import time

import torch
import torch.distributed as dist
from transformers import BertConfig, BertForSequenceClassification


def read_jsonl(path: str) -> list[dict]:
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def relaunch_under_torchrun() -> None:
    if "LOCAL_RANK" in os.environ or not torch.cuda.is_available() or torch.cuda.device_count() < 2:
        return
    n = torch.cuda.device_count()
    sys.exit(subprocess.call([sys.executable, "-m", "torch.distributed.run", "--standalone",
                              f"--nproc_per_node={n}", *sys.argv]))


def main() -> None:
    relaunch_under_torchrun()
    meta = json.load(open("data/meta.json"))
    smoke = meta.get("scale") == "smoke"
    ddp = "LOCAL_RANK" in os.environ
    if ddp:
        dist.init_process_group(backend="nccl" if torch.cuda.is_available() else "gloo")
        rank, world, local = dist.get_rank(), dist.get_world_size(), int(os.environ["LOCAL_RANK"])
    else:
        rank, world, local = 0, 1, 0
    device = torch.device("cuda", local) if torch.cuda.is_available() else torch.device("cpu")
    if device.type == "cpu":
        torch.set_num_threads(1 if smoke else os.cpu_count() or 1)
    torch.manual_seed(0)
    random.seed(0)

    if smoke:
        from smoke_tokenizer import HashTokenizer

        tok = HashTokenizer(4096)
        encode = lambda p, h: tok(p, h, max_length=48)  # noqa: E731
        config = BertConfig(vocab_size=4096, hidden_size=64, num_hidden_layers=2, num_attention_heads=2,
                            intermediate_size=128, max_position_embeddings=64, num_labels=3)
        model = BertForSequenceClassification(config)
        lr, epochs, batch = 2e-3, 2, 32
    else:
        from transformers import BertTokenizerFast

        tok = BertTokenizerFast.from_pretrained("data/bert-base-uncased")
        encode = lambda p, h: tok(p, h, max_length=128, truncation=True, padding=True)  # noqa: E731
        model = BertForSequenceClassification.from_pretrained("data/bert-base-uncased", num_labels=3)
        lr, epochs, batch = 1e-7, 1, 32
    model.to(device)
    net = torch.nn.parallel.DistributedDataParallel(model, device_ids=[local] if device.type == "cuda" else None) \
        if ddp else model
    rows = read_jsonl("data/train.jsonl")
    opt = torch.optim.AdamW(model.parameters(), lr=lr)
    scaler = torch.amp.GradScaler("cuda", enabled=device.type == "cuda")
    t0 = time.time()
    step = 0
    for epoch in range(epochs):
        order = list(range(len(rows)))
        random.Random(epoch).shuffle(order)
        batches = [order[i:i + batch] for i in range(0, len(order), batch)]
        batches = batches[: len(batches) // world * world][rank::world]  # equal step counts on every rank
        net.train()
        for b in batches:
            enc = encode([rows[i]["premise"] for i in b], [rows[i]["hypothesis"] for i in b])
            inputs = {k: torch.tensor(v, device=device) for k, v in dict(enc).items()}
            labels = torch.tensor([rows[i]["label"] for i in b], device=device)
            with torch.autocast("cuda", enabled=device.type == "cuda"):
                loss = net(**inputs, labels=labels).loss
            scaler.scale(loss).backward()
            scaler.step(opt)
            scaler.update()
            opt.zero_grad(set_to_none=True)
            step += 1
            if rank == 0 and step % 50 == 0:
                print(f"epoch {epoch} step {step} loss {loss.item():.4f} time {time.time() - t0:.1f}s", flush=True)
    if rank == 0:
        model.save_pretrained("bert_mnli_model", safe_serialization=True)
        print("saved bert_mnli_model/", flush=True)
    if ddp:
        dist.destroy_process_group()


if __name__ == "__main__":
    main()
