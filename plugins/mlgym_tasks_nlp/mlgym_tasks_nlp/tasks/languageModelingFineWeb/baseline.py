"""Baseline: train the GPT of model.py on the FineWeb token shards in data/.

    python baseline.py            # with several GPUs visible it relaunches itself under torchrun

Full scale (data/meta.json "scale": "full"): 12 layers, 6 heads, width 768, vocabulary 50304,
sequences of 1024 tokens, 64 sequences per GPU and step, 500 steps; Adam on the embedding
(lr 0.3) and on the LM head (lr 0.002), Muon on the transformer blocks (lr 0.02, momentum 0.95);
the learning rate decays linearly with a warmdown of 1308 steps (so from the first step); bf16
autocast and torch.compile on GPU; DDP across GPUs. Smoke scale: a tiny model for a CPU check.

Writes the artifacts the grader reads: model.pt (state dict), model_config.json (the
ModelConfig fields) and model.py (the model definition, already in the workspace).
"""

from __future__ import annotations

import dataclasses
import glob
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F

from model import Model, ModelConfig


@dataclass
class Hyperparameters:
    train_glob: str = "data/fineweb10B/fineweb_train_*.bin"
    seq_len: int = 1024
    batch_per_device: int = 64
    num_iterations: int = 500
    warmup_iters: int = 0
    warmdown_iters: int = 1308
    embed_lr: float = 0.3
    head_lr: float = 0.002
    muon_lr: float = 0.02
    muon_momentum: float = 0.95
    model: ModelConfig = dataclasses.field(default_factory=ModelConfig)
    compile: bool = True


def smoke_hyperparameters(meta: dict) -> Hyperparameters:
    torch.set_num_threads(1)  # a tiny model: more CPU threads only contend
    return Hyperparameters(seq_len=meta.get("seq_len", 128), batch_per_device=16, num_iterations=80,
                           warmdown_iters=80, embed_lr=0.05, head_lr=0.01, muon_lr=0.05,
                           model=ModelConfig(vocab_size=meta.get("vocab_size", 1024), n_layer=2, n_head=2,
                                             n_embd=64), compile=False)


# -- Muon: momentum SGD whose update is orthogonalised by a Newton-Schulz iteration ------------------
def orthogonalize(g: torch.Tensor, steps: int = 5, eps: float = 1e-7) -> torch.Tensor:
    a, b, c = 3.4445, -4.7750, 2.0315  # quintic iteration, pushes singular values towards 1
    x = g.bfloat16() if g.is_cuda else g.float()
    x = x / (x.norm() + eps)
    tall = x.size(0) > x.size(1)
    if tall:
        x = x.T
    for _ in range(steps):
        m = x @ x.T
        x = a * x + (b * m + c * m @ m) @ x
    return (x.T if tall else x).to(g.dtype)


class Muon(torch.optim.Optimizer):
    def __init__(self, params, lr: float = 0.02, momentum: float = 0.95, nesterov: bool = True) -> None:
        super().__init__(params, dict(lr=lr, momentum=momentum, nesterov=nesterov))

    @torch.no_grad()
    def step(self) -> None:
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state[p]
                buf = state.setdefault("momentum", torch.zeros_like(p.grad))
                buf.mul_(group["momentum"]).add_(p.grad)
                g = p.grad.add(buf, alpha=group["momentum"]) if group["nesterov"] else buf
                update = orthogonalize(g)
                scale = max(1.0, p.size(0) / p.size(1)) ** 0.5
                p.add_(update, alpha=-group["lr"] * scale)


# -- data --------------------------------------------------------------------------------------
def load_shard(path: str) -> np.ndarray:
    header = np.fromfile(path, dtype=np.int32, count=256)
    assert header[0] == 20240520 and header[1] == 1, f"{path}: not a token shard"
    return np.memmap(path, dtype=np.uint16, mode="r", offset=1024, shape=(int(header[2]),))


class ShardLoader:
    """Batches of (inputs, targets); rank r takes the r-th slice of every global batch."""

    def __init__(self, pattern: str, batch: int, seq_len: int, rank: int, world: int) -> None:
        self.files = sorted(glob.glob(pattern))
        assert self.files, f"no shards match {pattern}"
        self.batch, self.seq_len, self.rank, self.world = batch, seq_len, rank, world
        self.file_index, self.tokens, self.pos = 0, load_shard(self.files[0]), 0

    def next(self, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
        span = self.batch * self.seq_len
        if self.pos + span * self.world + 1 > len(self.tokens):
            self.file_index = (self.file_index + 1) % len(self.files)
            self.tokens, self.pos = load_shard(self.files[self.file_index]), 0
        start = self.pos + self.rank * span
        buf = torch.from_numpy(self.tokens[start:start + span + 1].astype(np.int64))
        self.pos += span * self.world
        x, y = buf[:-1].view(self.batch, self.seq_len), buf[1:].view(self.batch, self.seq_len)
        return x.to(device, non_blocking=True), y.to(device, non_blocking=True)


def relaunch_under_torchrun() -> None:
    """With several GPUs and no torchrun around us, start one process per GPU with torchrun."""
    if "LOCAL_RANK" in os.environ or not torch.cuda.is_available() or torch.cuda.device_count() < 2:
        return
    n = torch.cuda.device_count()
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={n}", *sys.argv]
    sys.exit(subprocess.call(cmd))


def main() -> None:
    relaunch_under_torchrun()
    meta = json.load(open("data/meta.json")) if os.path.exists("data/meta.json") else {"scale": "full"}
    args = smoke_hyperparameters(meta) if meta.get("scale") == "smoke" else Hyperparameters()
    torch.manual_seed(0)
    ddp = "LOCAL_RANK" in os.environ
    if ddp:
        dist.init_process_group(backend="nccl" if torch.cuda.is_available() else "gloo")
        rank, world, local = dist.get_rank(), dist.get_world_size(), int(os.environ["LOCAL_RANK"])
    else:
        rank, world, local = 0, 1, 0
    if torch.cuda.is_available():
        device = torch.device("cuda", local)
        torch.cuda.set_device(device)
    else:
        device = torch.device("cpu")
    master = rank == 0

    model = Model(args.model).to(device)
    raw = model
    if args.compile and device.type == "cuda":
        model = torch.compile(model)
    if ddp:
        model = torch.nn.parallel.DistributedDataParallel(model, device_ids=[local] if device.type == "cuda" else None)
    block_params = [p for p in raw.blocks.parameters()]
    optimizers = [
        torch.optim.Adam([raw.wte.weight], lr=args.embed_lr, betas=(0.9, 0.95), fused=device.type == "cuda"),
        torch.optim.Adam([raw.lm_head.weight], lr=args.head_lr, betas=(0.9, 0.95), fused=device.type == "cuda"),
        Muon(block_params, lr=args.muon_lr, momentum=args.muon_momentum),
    ]
    for opt in optimizers:
        for g in opt.param_groups:
            g["initial_lr"] = g["lr"]

    def lr_factor(it: int) -> float:
        if it < args.warmup_iters:
            return (it + 1) / args.warmup_iters
        if it < args.num_iterations - args.warmdown_iters:
            return 1.0
        return (args.num_iterations - it) / args.warmdown_iters

    loader = ShardLoader(args.train_glob, args.batch_per_device, args.seq_len, rank, world)
    autocast = torch.autocast("cuda", dtype=torch.bfloat16) if device.type == "cuda" else torch.autocast(
        "cpu", enabled=False)
    t0 = time.time()
    for it in range(args.num_iterations):
        x, y = loader.next(device)
        with autocast:
            logits = model(x)
            loss = F.cross_entropy(logits.view(-1, logits.size(-1)), y.view(-1))
        loss.backward()
        f = lr_factor(it)
        for opt in optimizers:
            for g in opt.param_groups:
                g["lr"] = g["initial_lr"] * f
            opt.step()
        model.zero_grad(set_to_none=True)
        if master and (it % max(1, args.num_iterations // 10) == 0 or it == args.num_iterations - 1):
            print(f"step {it + 1}/{args.num_iterations} train_loss {loss.item():.4f} "
                  f"time {time.time() - t0:.1f}s", flush=True)
    if master:
        state = {k.removeprefix("_orig_mod.").removeprefix("module."): v.detach().cpu()
                 for k, v in raw.state_dict().items()}
        torch.save(state, "model.pt")
        with open("model_config.json", "w") as f:
            json.dump(dataclasses.asdict(args.model), f)
        print("saved model.pt and model_config.json", flush=True)
    if ddp:
        dist.destroy_process_group()


if __name__ == "__main__":
    main()
