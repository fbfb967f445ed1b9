"""Grader-side worker: runs the submitted model.py and returns logits, nothing else.

Started by evaluate.py through mlgym_worker (a nested sandbox that cannot see the validation
data) with the arguments ``FOLDER DEVICE``. Protocol (mlgym_worker messages): request
``{"b": B, "t": T}`` + B*T little-endian int32 token ids; reply ``{"v": V, "dtype": D}`` + the
logits (D 0: float32, 1: bfloat16). Whatever the model code prints goes to the worker's log,
never into the protocol.
"""

from __future__ import annotations

import json
import os
import sys


def main() -> None:
    import mlgym_worker

    folder, device_name = sys.argv[1], sys.argv[2]
    try:
        model, device = load(folder, device_name)
    except BaseException as exc:  # noqa: BLE001 - reported to the evaluator
        mlgym_worker.send_error(f"{type(exc).__name__}: {exc}")
        raise SystemExit(1) from None
    serve(model, device)


def load(folder: str, device_name: str):
    import torch

    sys.path.insert(0, folder)
    from model import Model, ModelConfig  # the submitted model definition

    with open(os.path.join(folder, "model_config.json")) as f:
        cfg = json.load(f)
    if not isinstance(cfg, dict):
        raise ValueError("model_config.json must hold a JSON object of ModelConfig fields")
    device = torch.device(device_name)
    if device.type == "cpu":
        torch.set_num_threads(1)
    model = Model(ModelConfig(**cfg))
    state = torch.load(os.path.join(folder, "model.pt"), map_location="cpu", weights_only=True)
    state = {k.removeprefix("module.").removeprefix("_orig_mod.").removeprefix("module."): v
             for k, v in state.items()}
    model.load_state_dict(state, strict=True)
    model.to(device).eval()
    return model, device


def serve(model, device) -> None:
    import mlgym_worker
    import numpy as np
    import torch

    bf16 = device.type == "cuda"

    def answer(header, payload):
        b, t = int(header["b"]), int(header["t"])
        idx = torch.from_numpy(np.frombuffer(payload, dtype="<i4").astype(np.int64)).view(b, t).to(device)
        with torch.no_grad(), torch.autocast("cuda", dtype=torch.bfloat16, enabled=bf16):
            out = model(idx)
        logits = out[0] if isinstance(out, (tuple, list)) else out
        if not isinstance(logits, torch.Tensor) or logits.dim() != 3 or tuple(logits.shape[:2]) != (b, t):
            raise ValueError(f"model(idx) must return logits of shape ({b}, {t}, V), got "
                             f"{getattr(logits, 'shape', type(logits).__name__)}")
        if bf16:
            data = logits.to(torch.bfloat16).contiguous().view(torch.int16).cpu().numpy().tobytes()
        else:
            data = logits.float().contiguous().cpu().numpy().tobytes()
        return {"v": int(logits.shape[2]), "dtype": 1 if bf16 else 0}, data

    mlgym_worker.serve(answer)


if __name__ == "__main__":
    main()
