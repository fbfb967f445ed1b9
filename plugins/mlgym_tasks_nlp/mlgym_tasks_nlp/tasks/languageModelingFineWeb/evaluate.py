"""Grader of languageModelingFineWeb: mean cross-entropy of the submitted model on held-out tokens.

    python evaluate.py       # with several GPUs visible it relaunches itself under torchrun
    python evaluate.py --val-glob 'data/fineweb10B/fineweb_train_000009.bin' --val-tokens 1048576
                             # your own check on held-out training tokens (the grader's are not in data/)

The grader never imports the submission. It starts _lm_worker.py, which loads model.py,
model_config.json and model.pt, through mlgym_worker: a nested sandbox that sees the
submission and the Python install but not data/, the grader's folder or this process, and
whose only channel back is logits for token ids this script sends, over a private pipe. The loss is computed here
from those logits (log-softmax over the vocabulary), after a check that the model is causal
(changing later tokens must not change earlier predictions). Prints {"val_loss": ...}.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import subprocess
import sys

import numpy as np
import torch
import torch.distributed as dist

try:
    import mlgym_worker  # laid next to this file by mlgym (grader folder and workspace)
except ImportError:  # run from the task package itself
    from mlgym_core import worker_lib

    mlgym_worker = worker_lib()

HERE = os.path.dirname(os.path.abspath(__file__))  # the grader's own folder (read-only)
WS = os.getcwd()  # the submitted artifacts
DATA = os.path.join(WS, "data")
ARTIFACTS = ("model.py", "model.pt", "model_config.json")


def fail(msg: str) -> None:
    print(f"evaluation failed: {msg}", file=sys.stderr, flush=True)
    sys.exit(1)


def load_shard(path: str) -> np.ndarray:
    header = np.fromfile(path, dtype=np.int32, count=256)
    if header.size < 256 or header[0] != 20240520 or header[1] != 1:
        fail(f"{path}: not a token shard")
    return np.memmap(path, dtype=np.uint16, mode="r", offset=1024, shape=(int(header[2]),))


LM_WORKER = r"""
import runpy, sys
path = sys.argv[1]
sys.argv = [path] + sys.argv[2:]
runpy.run_path(path, run_name="__main__")
"""
PAYLOAD_CAP = 8 << 30  # logits of one request: chunk x seq_len x vocab x 4 bytes
REQUEST_TIMEOUT = 600.0
HINT = ("model.py, model_config.json and model.pt must load as Model(ModelConfig(**config)) with the state dict, "
        "and model(idx) return (B, T, V) logits")


class Worker:
    def __init__(self, device: str) -> None:
        env = {}
        if device.startswith("cuda"):
            vis = [d for d in os.environ.get("CUDA_VISIBLE_DEVICES", "").split(",") if d]
            local = int(device.split(":")[1])
            env["CUDA_VISIBLE_DEVICES"] = vis[local] if vis else str(local)
            device = "cuda:0"
        if os.environ.get("MLGYM_LM_WORKER_ISOLATION") == "none":  # for a control test only
            os.environ[mlgym_worker.ISOLATION_ENV] = "none"
        lm_worker = os.path.join(HERE, "_lm_worker.py")
        self.w = mlgym_worker.spawn(LM_WORKER, [lm_worker, WS, device], code=WS, files=[lm_worker], env=env,
                                    gpus=device.startswith("cuda"), max_payload=PAYLOAD_CAP)
        if self.w.isolation != "bwrap":
            print(f"warning: the model worker runs with isolation '{self.w.isolation}': it may see data/",
                  file=sys.stderr, flush=True)

    def logits(self, x: np.ndarray) -> torch.Tensor:
        b, t = x.shape
        try:
            head, buf = self.w.request({"b": b, "t": t}, x.astype("<i4").tobytes(), timeout=REQUEST_TIMEOUT)
        except mlgym_worker.WorkerError as exc:
            fail(f"the model worker stopped: {exc}\n{HINT}")
        v, dtype = head.get("v"), head.get("dtype")
        if not isinstance(v, int) or v <= 0 or dtype not in (0, 1) or len(buf) != b * t * v * (4 if dtype == 0 else 2):
            fail(f"the model worker sent a malformed reply {str(head)[:200]} with {len(buf)} bytes")
        out = torch.frombuffer(buf, dtype=torch.float32 if dtype == 0 else torch.bfloat16)
        return out.view(b, t, v)

    def close(self) -> None:
        self.w.close()


def nll_sum(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    logits = logits.float()
    if not torch.isfinite(logits).all():
        fail("the model produced non-finite logits")
    logp = torch.log_softmax(logits, dim=-1)
    return -logp.gather(-1, targets.unsqueeze(-1)).sum()


def check_causal(worker: Worker, x: np.ndarray, vocab: int, rng: np.random.Generator) -> None:
    """Predictions at positions < t0 must not change when the tokens from t0 on are replaced."""
    t = x.shape[1]
    t0 = int(rng.integers(t // 2, t - 1))
    y = x.copy()
    y[:, t0:] = rng.integers(0, vocab, size=y[:, t0:].shape)
    both = worker.logits(np.concatenate([x, y], axis=0)).float()
    a, b = both[: len(x), :t0], both[len(x):, :t0]
    tol = 0.05 + 0.02 * float(a.abs().max())
    diff = float((a - b).abs().max())
    if diff > tol:
        fail(f"the model is not causal: predictions before position {t0} changed by {diff:.3g} when later "
             "tokens changed")


def main() -> None:
    if "LOCAL_RANK" not in os.environ and torch.cuda.is_available() and torch.cuda.device_count() > 1:
        n = torch.cuda.device_count()
        sys.exit(subprocess.call([sys.executable, "-m", "torch.distributed.run", "--standalone",
                                  f"--nproc_per_node={n}", *sys.argv]))
    for name in ARTIFACTS:
        if not os.path.isfile(os.path.join(WS, name)):
            fail(f"{name} is missing from the submission (needed: {', '.join(ARTIFACTS)})")
    try:
        with open(os.path.join(WS, "model_config.json")) as f:
            if not isinstance(json.load(f), dict):
                raise ValueError("not an object")
    except ValueError as exc:
        fail(f"model_config.json: {exc}")
    ap = argparse.ArgumentParser()
    ap.add_argument("--val-glob", default=os.path.join(DATA, "fineweb10B", "fineweb_val_*.bin"))
    ap.add_argument("--val-tokens", type=int, default=None)
    args = ap.parse_args()
    with open(os.path.join(DATA, "meta.json")) as f:
        meta = json.load(f)
    smoke = meta.get("scale") == "smoke"
    seq_len = int(meta.get("seq_len", 1024))
    batch = 16 if smoke else 64
    chunk = batch if smoke else 4  # sequences per request to the worker
    total = args.val_tokens or int(meta.get("val_tokens", 10_485_760))

    ddp = "LOCAL_RANK" in os.environ
    if ddp:
        dist.init_process_group(backend="nccl" if torch.cuda.is_available() else "gloo")
        rank, world, local = dist.get_rank(), dist.get_world_size(), int(os.environ["LOCAL_RANK"])
    else:
        rank, world, local = 0, 1, 0
    device = f"cuda:{local}" if torch.cuda.is_available() else "cpu"
    if device == "cpu":
        torch.set_num_threads(1)
    if device.startswith("cuda"):
        torch.cuda.set_device(local)
    step_tokens = batch * seq_len * world
    if total % step_tokens:
        fail(f"the validation budget of {total} tokens is not a multiple of {batch}x{seq_len}x{world} (world size)")
    files = sorted(glob.glob(args.val_glob))
    if not files:
        fail(f"no token shards match {args.val_glob}")
    tokens = np.concatenate([load_shard(p)[: total + 1] for p in files])[: total + 1]
    if len(tokens) < total + 1:
        fail(f"the validation shards hold {len(tokens)} tokens, fewer than {total + 1}")
    vocab = int(tokens.max()) + 1

    worker = Worker(device)
    rng = np.random.default_rng(0)
    loss_sum = torch.zeros((), dtype=torch.float64, device=device)
    count = torch.zeros((), dtype=torch.float64, device=device)
    try:
        for step in range(total // step_tokens):
            start = step * step_tokens + rank * batch * seq_len
            buf = tokens[start: start + batch * seq_len + 1].astype(np.int64)
            x, y = buf[:-1].reshape(batch, seq_len), buf[1:].reshape(batch, seq_len)
            if step == 0:
                check_causal(worker, x[:2], vocab, rng)
            for i in range(0, batch, chunk):
                logits = worker.logits(x[i:i + chunk])
                if logits.shape[-1] < vocab:
                    fail(f"the model predicts {logits.shape[-1]} token ids but the data uses ids up to {vocab - 1}")
                tgt = torch.from_numpy(y[i:i + chunk]).to(device)
                loss_sum += nll_sum(logits.to(device), tgt).double()
                count += tgt.numel()
    finally:
        worker.close()
    if ddp:
        dist.all_reduce(loss_sum)
        dist.all_reduce(count)
    if rank == 0:
        print(json.dumps({"val_loss": float(loss_sum / count)}), flush=True)
    if ddp:
        dist.destroy_process_group()


if __name__ == "__main__":
    main()
