"""Grader-side worker: runs the submitted model.py and returns logits, nothing else.

Started by evaluate.py (in a child process that cannot see the validation data where bubblewrap
allows) as ``python _lm_worker.py FOLDER DEVICE``. Protocol on stdin/stdout, little-endian int32:
request ``B T 0`` + B*T token ids (B == 0: quit); reply ``B T V DTYPE`` + the logits (DTYPE 0:
float32, 1: bfloat16). Whatever the model code prints goes to stderr, never into the protocol.
"""

from __future__ import annotations

import json
import os
import sys


def main() -> None:
    folder, device_name = sys.argv[1], sys.argv[2]
    proto = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # model code that prints lands on stderr
    sys.stdout = sys.stderr
    inp = sys.stdin.buffer
    import numpy as np
    import torch

    sys.path.insert(0, folder)

    from model import Model, ModelConfig  # the submitted model definition

    with open(os.path.join(folder, "model_config.json")) as f:
        cfg = json.load(f)
    if not isinstance(cfg, dict):
        raise SystemExit("model_config.json must hold a JSON object of ModelConfig fields")
    device = torch.device(device_name)
    if device.type == "cpu":
        torch.set_num_threads(1)
    model = Model(ModelConfig(**cfg))
    state = torch.load(os.path.join(folder, "model.pt"), map_location="cpu", weights_only=True)
    state = {k.removeprefix("module.").removeprefix("_orig_mod.").removeprefix("module."): v
             for k, v in state.items()}
    model.load_state_dict(state, strict=True)
    model.to(device).eval()
    bf16 = device.type == "cuda"
    while True:
        head = inp.read(12)
        if len(head) < 12:
            return
        b, t, _ = np.frombuffer(head, dtype="<i4")
        if b == 0:
            return
        raw = inp.read(int(b) * int(t) * 4)
        idx = torch.from_numpy(np.frombuffer(raw, dtype="<i4").astype(np.int64)).view(int(b), int(t)).to(device)
        with torch.no_grad(), torch.autocast("cuda", dtype=torch.bfloat16, enabled=bf16):
            out = model(idx)
        logits = out[0] if isinstance(out, (tuple, list)) else out
        if not isinstance(logits, torch.Tensor) or logits.dim() != 3 or tuple(logits.shape[:2]) != (b, t):
            raise SystemExit(f"model(idx) must return logits of shape ({b}, {t}, V), got "
                             f"{getattr(logits, 'shape', type(logits).__name__)}")
        if bf16:
            data = logits.to(torch.bfloat16).contiguous().view(torch.int16).cpu().numpy().tobytes()
        else:
            data = logits.float().contiguous().cpu().numpy().tobytes()
        proto.write(np.array([b, t, logits.shape[2], 1 if bf16 else 0], dtype="<i4").tobytes())
        proto.write(data)
        proto.flush()


if __name__ == "__main__":
    main()
