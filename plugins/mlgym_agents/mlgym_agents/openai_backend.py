"""The ``openai`` model backend: chat completions from any OpenAI-compatible endpoint.

Base URL and key follow the client's conventions (``OPENAI_BASE_URL``, ``OPENAI_API_KEY``) unless the
model options ``base_url`` / ``api_key`` are given, so the same backend serves OpenAI, vLLM, Ollama,
SGLang, a LiteLLM proxy or OpenRouter.

Retries: rate limits (429), server errors (5xx), dropped connections and 200 responses that are not
a chat completion (an HTML error page from a proxy, truncated JSON) are retried up to ``max_retries``
times (default ``MLGYM_MODEL_MAX_RETRIES`` or 5) with exponential backoff (``retry_wait`` seconds,
doubled each attempt, capped at ``retry_max_wait``, with jitter); a request that times out
(``timeout``, default ``MLGYM_MODEL_TIMEOUT`` or 180 s) is retried at most twice, so an endpoint
that hangs costs minutes, not an hour. Each retry is announced through :func:`mlgym_core.notify`,
so ``mlgym run`` shows it as it happens. Authentication, permission and bad-request errors are not
retried; failures that exhaust the retries are the endpoint's fault and end the run with ``exit_api``.
A context-length error raises :class:`~mlgym_core.protocols.ContextWindowError`; every other failure
raises :class:`~mlgym_core.protocols.ModelError`.
"""

from __future__ import annotations

import json
import os
import random
import time
from collections.abc import Sequence
from typing import Any

from mlgym_core import Completion, ConfigError, ContextWindowError, ModelError, notify, price_for

from .tokens import context_window_for

_CONTEXT_MARKERS = ("context length", "context_length", "maximum context", "context window", "too many tokens",
                    "prompt is too long", "reduce the length", "input is too long")


def _env_number(name: str, default: float) -> float:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return float(raw)
    except ValueError:
        raise ConfigError(f"environment variable {name} must be a number, got {raw!r}") from None


def _number(options: dict[str, Any], key: str, default: float | None) -> float | None:
    if key not in options or options[key] is None:
        return default
    try:
        return float(options[key])
    except (TypeError, ValueError):
        raise ConfigError(f"openai model option '{key}' must be a number, got {options[key]!r}") from None


DEFAULT_TIMEOUT_S = 180.0
TIMEOUT_RETRIES = 2  # a hanging endpoint usually stays hung: retry a timeout at most this often


class StreamCutError(Exception):
    """A streamed reply stopped before its end (retried like a dropped connection)."""


class BadResponseError(Exception):
    """A 2xx response whose body is not a chat completion (retried; the endpoint's fault)."""


class OpenAIBackend:
    """Chat completions with usage, list-price cost, bounded retries and typed errors."""

    OPTIONS = ("base_url", "api_key", "temperature", "top_p", "max_tokens", "timeout", "max_retries",
               "retry_wait", "retry_max_wait", "stream", "max_input_tokens", "extra_body", "price")

    def __init__(self, model: str, *, task_id: str | None = None, **options: Any) -> None:
        import openai  # heavy import kept out of plugin.py

        unknown = sorted(set(options) - set(self.OPTIONS))
        if unknown:
            raise ConfigError(f"openai model option(s) {', '.join(unknown)} unknown; known: {', '.join(self.OPTIONS)}")
        if not model:
            raise ConfigError("openai backend: empty model name (use --model openai:<model name>)")
        self.model = model
        self.name = f"openai:{model}"
        self.task_id = task_id
        self._openai = openai
        self.temperature = _number(options, "temperature", 0.0)
        self.top_p = _number(options, "top_p", 0.95)
        mt = _number(options, "max_tokens", None)
        self.max_tokens = int(mt) if mt else None
        self.timeout = _number(options, "timeout", _env_number("MLGYM_MODEL_TIMEOUT", DEFAULT_TIMEOUT_S))
        self.max_retries = int(_number(options, "max_retries", _env_number("MLGYM_MODEL_MAX_RETRIES", 5)) or 0)
        self.retry_wait = float(_number(options, "retry_wait", _env_number("MLGYM_MODEL_RETRY_WAIT", 2.0)) or 0.0)
        self.retry_max_wait = float(_number(options, "retry_max_wait", 60.0) or 0.0)
        self.stream = bool(options.get("stream", False))
        self.extra_body = options.get("extra_body") or None
        mit = _number(options, "max_input_tokens", None)
        self.max_input_tokens = int(mit) if mit else context_window_for(model)
        price = options.get("price")
        if price is not None:
            try:
                self.price: tuple[float, float] | None = (float(price["input"]), float(price["output"]))
            except (TypeError, KeyError, ValueError):
                raise ConfigError("openai model option 'price' must be {input: $/M, output: $/M}") from None
        else:
            self.price = price_for(model)
        self.warnings: list[str] = []
        if self.price is None:
            self.warnings.append(f"model '{model}' has no list price (mlgym_core/data/prices.yaml or MLGYM_PRICES):"
                                 " its cost is counted as 0")
        base_url = options.get("base_url") or os.environ.get("OPENAI_BASE_URL") or None
        api_key = options.get("api_key") or os.environ.get("OPENAI_API_KEY") or None
        if api_key is None:
            if base_url is None:
                raise ConfigError("openai backend: no API key; set OPENAI_API_KEY or the model option api_key "
                                  "(or OPENAI_BASE_URL for a local server that needs none)")
            api_key = "none"  # local servers (vLLM, Ollama) accept any key
        self.base_url = base_url
        self.client = openai.OpenAI(base_url=base_url, api_key=api_key, timeout=self.timeout, max_retries=0)
        self.calls = 0

    # -- the ModelBackend protocol ----------------------------------------------------------------
    def complete(self, messages: Sequence[dict[str, Any]], *, tools: Sequence[dict[str, Any]] | None = None,
                 ) -> Completion:
        kwargs: dict[str, Any] = {"model": self.model, "messages": list(messages)}
        if self.temperature is not None:
            kwargs["temperature"] = self.temperature
        if self.top_p is not None:
            kwargs["top_p"] = self.top_p
        if self.max_tokens:
            kwargs["max_tokens"] = self.max_tokens
        if tools:
            kwargs["tools"] = list(tools)
        if self.extra_body:
            kwargs["extra_body"] = self.extra_body
        attempt = 0
        while True:
            try:
                self.calls += 1
                return self._once(kwargs)
            except self._openai.APIStatusError as exc:
                status = exc.status_code
                if _is_context_error(exc):
                    raise ContextWindowError(f"{self.name}: context window exceeded: {_short(exc)}") from exc
                if status == 429 or status >= 500 or status == 408:
                    what = f"HTTP {status}"
                    if attempt >= self.max_retries:
                        raise ModelError(f"{self.name}: {what} after {attempt + 1} attempts: "
                                         f"{_short(exc)}") from exc
                else:  # 400, 401, 403, 404, 422...: retrying cannot help
                    raise ModelError(f"{self.name}: HTTP {status}: {_short(exc)}") from exc
            except (self._openai.APITimeoutError, self._openai.APIConnectionError, StreamCutError) as exc:
                what = "timed out" if isinstance(exc, self._openai.APITimeoutError) else type(exc).__name__
                limit = min(self.max_retries, TIMEOUT_RETRIES) if what == "timed out" else self.max_retries
                if attempt >= limit:
                    where = self.base_url or "api.openai.com"
                    raise ModelError(f"{self.name}: {type(exc).__name__} talking to {where} after "
                                     f"{attempt + 1} attempts: {_short(exc)}") from exc
            except BadResponseError as exc:
                what = "a response that is not a chat completion"
                if attempt >= self.max_retries:
                    raise ModelError(f"{self.name}: the endpoint answered {attempt + 1} times with {exc}") from exc
            except self._openai.OpenAIError as exc:
                raise ModelError(f"{self.name}: {type(exc).__name__}: {_short(exc)}") from exc
            wait = self._backoff(attempt)
            notify(f"{self.name}: {what} (attempt {attempt + 1} of {self.max_retries + 1}); "
                   f"retrying in {wait:.1f} s")
            time.sleep(wait)
            attempt += 1

    def _backoff(self, attempt: int) -> float:
        wait = min(self.retry_max_wait, self.retry_wait * (2 ** attempt))
        return wait * random.uniform(0.5, 1.0)

    def _once(self, kwargs: dict[str, Any]) -> Completion:
        if self.stream:
            return self._stream(kwargs)
        raw = self.client.chat.completions.with_raw_response.create(**kwargs)
        try:
            resp = raw.parse()
            if not getattr(resp, "choices", None):
                raise ValueError("no choices")
            msg = resp.choices[0].message
            calls = [_call_dict(c.id, c.function.name, c.function.arguments) for c in (msg.tool_calls or [])]
            usage = resp.usage
            tin = int(getattr(usage, "prompt_tokens", 0) or 0) if usage else 0
            tout = int(getattr(usage, "completion_tokens", 0) or 0) if usage else 0
            content = msg.content or ""
        except (ValueError, TypeError, AttributeError, IndexError, KeyError) as exc:
            body = " ".join(raw.http_response.text[:160].split())
            raise BadResponseError(f"a {raw.status_code} response that is not a chat completion (body: {body!r}; "
                                   f"{type(exc).__name__}: {_short(exc)})") from exc
        return Completion(content=content, tool_calls=calls, input_tokens=tin, output_tokens=tout,
                          cost=self.cost(tin, tout), raw=resp)

    def _stream(self, kwargs: dict[str, Any]) -> Completion:
        parts: list[str] = []
        calls: dict[int, dict[str, Any]] = {}
        tin = tout = 0
        finished = False
        stream = self.client.chat.completions.create(**kwargs, stream=True, stream_options={"include_usage": True})
        for chunk in stream:
            if chunk.usage:
                tin, tout = int(chunk.usage.prompt_tokens or 0), int(chunk.usage.completion_tokens or 0)
            for ch in chunk.choices or ():
                d = ch.delta
                if d and d.content:
                    parts.append(d.content)
                for tc in (d.tool_calls or []) if d else []:
                    slot = calls.setdefault(tc.index, {"id": "", "name": "", "arguments": ""})
                    if tc.id:
                        slot["id"] = tc.id
                    if tc.function and tc.function.name:
                        slot["name"] += tc.function.name
                    if tc.function and tc.function.arguments:
                        slot["arguments"] += tc.function.arguments
                if ch.finish_reason:
                    finished = True
        if not finished:
            raise StreamCutError("the stream ended before a finish_reason")
        return Completion(content="".join(parts),
                          tool_calls=[_call_dict(c["id"], c["name"], c["arguments"]) for _, c in sorted(calls.items())],
                          input_tokens=tin, output_tokens=tout, cost=self.cost(tin, tout))

    def cost(self, tokens_in: int, tokens_out: int) -> float:
        if self.price is None:
            return 0.0
        return (tokens_in * self.price[0] + tokens_out * self.price[1]) / 1e6


def _call_dict(call_id: str | None, name: str, arguments: str | None) -> dict[str, Any]:
    return {"id": call_id or "", "type": "function", "function": {"name": name or "", "arguments": arguments or ""}}


def _is_context_error(exc: Any) -> bool:
    body = getattr(exc, "body", None)
    code = ""
    if isinstance(body, dict):
        err = body.get("error", body)
        if isinstance(err, dict):
            code = str(err.get("code") or "")
    if code == "context_length_exceeded":
        return True
    text = str(exc).lower()
    return exc.status_code in (400, 413, 422) and any(m in text for m in _CONTEXT_MARKERS)


def _short(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text if len(text) <= 300 else text[:297] + "..."


def parse_arguments(raw: str) -> dict[str, Any]:
    """A tool call's JSON arguments as a dict; raises ValueError with a one-line reason."""
    if raw is None or raw.strip() == "":
        return {}
    data = json.loads(raw)
    if not isinstance(data, dict):
        raise ValueError(f"arguments must be a JSON object, got {type(data).__name__}")
    return data
