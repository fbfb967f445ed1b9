"""The smoke-scale tokenizer: lower-cased words and punctuation hashed into a fixed vocabulary.

Stands in for the bert-base-uncased WordPiece tokenizer when no pretrained files are available
(--scale smoke). Layout as BERT's: [CLS] premise [SEP] hypothesis [SEP], token type 0 then 1.
"""

from __future__ import annotations

import re
import zlib

PAD, CLS, SEP, UNK = 0, 1, 2, 3
SPECIAL = 4
WORD = re.compile(r"\w+|[^\w\s]")


class HashTokenizer:
    def __init__(self, vocab_size: int = 4096) -> None:
        self.vocab_size = vocab_size

    def ids(self, text: str) -> list[int]:
        return [SPECIAL + zlib.crc32(w.encode()) % (self.vocab_size - SPECIAL) for w in WORD.findall(text.lower())]

    def __call__(self, premises: list[str], hypotheses: list[str], max_length: int = 128) -> dict[str, list[list[int]]]:
        """Batch encoding padded to the longest pair (at most ``max_length``), as lists of ints."""
        rows = []
        for p, h in zip(premises, hypotheses):
            a, b = self.ids(p), self.ids(h)
            while len(a) + len(b) + 3 > max_length:  # truncate the longer side first
                (a if len(a) >= len(b) else b).pop()
            rows.append(([CLS] + a + [SEP] + b + [SEP], [0] * (len(a) + 2) + [1] * (len(b) + 1)))
        width = max(len(r[0]) for r in rows)
        return {
            "input_ids": [ids + [PAD] * (width - len(ids)) for ids, _ in rows],
            "token_type_ids": [tt + [0] * (width - len(tt)) for _, tt in rows],
            "attention_mask": [[1] * len(ids) + [0] * (width - len(ids)) for ids, _ in rows],
        }
