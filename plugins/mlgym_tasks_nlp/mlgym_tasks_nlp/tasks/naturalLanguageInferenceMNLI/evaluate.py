"""Grader of naturalLanguageInferenceMNLI: accuracy (%) on validation_matched, whose labels only
the grader sees. Loads bert_mnli_model/ (config.json + model.safetensors; no pickles, no code
from the submission) as BertForSequenceClassification and tokenizes premise/hypothesis pairs
with bert-base-uncased (smoke scale: the hash tokenizer). Prints {"validation_accuracy": ...}.
"""

from __future__ import annotations

import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
WS = os.getcwd()
DATA = os.path.join(WS, "data")
MODEL = os.path.join(WS, "bert_mnli_model")


def fail(msg: str) -> None:
    print(f"evaluation failed: {msg}", file=sys.stderr, flush=True)
    sys.exit(1)


def main() -> None:
    for name in ("config.json", "model.safetensors"):
        if not os.path.isfile(os.path.join(MODEL, name)):
            fail(f"bert_mnli_model/{name} is missing (save the model with save_pretrained)")
    try:
        with open(os.path.join(MODEL, "config.json")) as f:
            cfg = json.load(f)
    except ValueError as exc:
        fail(f"bert_mnli_model/config.json: {exc}")
    if not isinstance(cfg, dict) or cfg.get("model_type") != "bert":
        fail("bert_mnli_model/config.json must describe a BERT model (model_type 'bert')")
    import torch
    from transformers import BertForSequenceClassification

    with open(os.path.join(DATA, "meta.json")) as f:
        meta = json.load(f)
    smoke = meta.get("scale") == "smoke"
    device = torch.device("cuda", 0) if torch.cuda.is_available() else torch.device("cpu")
    if device.type == "cpu":
        torch.set_num_threads(1 if smoke else os.cpu_count() or 1)
    try:
        model = BertForSequenceClassification.from_pretrained(MODEL, local_files_only=True, use_safetensors=True)
    except Exception as exc:
        fail(f"bert_mnli_model/ does not load as BertForSequenceClassification: {type(exc).__name__}: {exc}")
    if model.config.num_labels != 3:
        fail(f"the classifier has {model.config.num_labels} labels, expected 3")
    model.to(device).eval()
    if meta.get("tokenizer") == "hash":
        sys.path.insert(0, HERE)
        from smoke_tokenizer import HashTokenizer

        tok = HashTokenizer(model.config.vocab_size)
        encode = lambda p, h: tok(p, h, max_length=48)  # noqa: E731
    else:
        from transformers import BertTokenizerFast

        tok = BertTokenizerFast.from_pretrained(os.path.join(DATA, "bert-base-uncased"))
        encode = lambda p, h: dict(tok(p, h, max_length=128, truncation=True, padding=True))  # noqa: E731
    with open(os.path.join(DATA, "validation_matched.jsonl")) as f:
        rows = [json.loads(line) for line in f if line.strip()]
    correct = 0
    with torch.no_grad():
        for i in range(0, len(rows), 32):
            b = rows[i:i + 32]
            enc = encode([r["premise"] for r in b], [r["hypothesis"] for r in b])
            inputs = {k: torch.tensor(v, device=device) for k, v in enc.items()}
            with torch.autocast("cuda", enabled=device.type == "cuda"):
                pred = model(**inputs).logits.argmax(-1).cpu()
            correct += int((pred == torch.tensor([r["label"] for r in b])).sum())
    print(json.dumps({"validation_accuracy": 100.0 * correct / len(rows)}), flush=True)


if __name__ == "__main__":
    main()
