"""Token estimates for the input-size check made before every model call.

No tokenizer is downloaded at run time: ``tiktoken`` is used when it is installed *and* its
encoding is already cached locally (it would otherwise fetch it from the internet); else the
estimate is ``ceil(characters / 3.5) + 4`` per message. English prose and code run at 3.5 to 4.5
characters per token in the GPT-4o and Llama-3 tokenizers, so the heuristic errs high, which is
the safe side for a context check (it ends a run a little early rather than sending an
over-long request).
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Sequence
from typing import Any

CHARS_PER_TOKEN = 3.5
PER_MESSAGE = 4

# Input context windows (tokens) of common models; keys are matched as name prefixes after
# normalisation (lower case, alphanumerics only, provider prefix dropped). Unknown: no check.
CONTEXT_WINDOWS = {
    "gpt4o": 128_000, "gpt4turbo": 128_000, "gpt41": 1_047_576, "gpt4": 8_192, "gpt35turbo": 16_385,
    "o1preview": 128_000, "o1mini": 128_000, "o1": 200_000, "o3mini": 200_000, "o3": 200_000, "o4mini": 200_000,
    "claude": 200_000, "gemini15pro": 2_000_000, "gemini15flash": 1_000_000, "gemini20": 1_000_000,
    "gemini25": 1_000_000, "llama31": 128_000, "llama33": 128_000, "llama4": 1_000_000, "deepseekr1": 128_000,
    "deepseekv3": 128_000, "qwen25": 32_768, "mistrallarge": 128_000,
}


def _norm(model: str) -> str:
    name = re.split(r"[/:]", model.strip())[-1].lower()
    return re.sub(r"[^a-z0-9]", "", name.removeprefix("metagen-"))


def context_window_for(model: str) -> int | None:
    key = _norm(model)
    best = max((k for k in CONTEXT_WINDOWS if key.startswith(k)), key=len, default=None)
    return CONTEXT_WINDOWS[best] if best else None


_ENCODER: Any = None
_ENCODER_TRIED = False


def _encoder() -> Any:
    global _ENCODER, _ENCODER_TRIED
    if _ENCODER_TRIED:
        return _ENCODER
    _ENCODER_TRIED = True
    if os.environ.get("MLGYM_NO_TIKTOKEN"):
        return None
    try:
        import tiktoken  # optional
        import tiktoken_ext.openai_public  # noqa: F401

        cache = os.environ.get("TIKTOKEN_CACHE_DIR") or os.environ.get("DATA_GYM_CACHE_DIR")
        if not cache or not os.path.isdir(cache) or not os.listdir(cache):
            return None  # would download the encoding: stay offline
        _ENCODER = tiktoken.get_encoding("o200k_base")
    except Exception:
        _ENCODER = None
    return _ENCODER


def estimate_text(text: str) -> int:
    enc = _encoder()
    if enc is not None:
        return len(enc.encode(text, disallowed_special=()))
    return math.ceil(len(text) / CHARS_PER_TOKEN)


def estimate_messages(messages: Sequence[dict[str, Any]], tools: Sequence[dict[str, Any]] | None = None) -> int:
    """Estimated prompt tokens of a chat request (messages plus tool schemas)."""
    total = 3
    for m in messages:
        total += PER_MESSAGE + estimate_text(str(m.get("content") or ""))
        for call in m.get("tool_calls") or ():
            total += estimate_text(str(call.get("function", {}).get("arguments", ""))) + 8
    if tools:
        import json

        total += estimate_text(json.dumps(list(tools)))
    return total
