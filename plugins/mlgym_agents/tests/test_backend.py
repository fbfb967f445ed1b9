"""The openai backend against a real HTTP server with the real openai client."""

from __future__ import annotations

import socket
import time

import pytest

from mlgym_agents.openai_backend import OpenAIBackend
from mlgym_core.errors import ConfigError
from mlgym_core.protocols import ContextWindowError, ModelError

MSGS = [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hello there"}]


def backend(srv, model="scripted-model", **kw):
    kw.setdefault("retry_wait", 0.01)
    return OpenAIBackend(model, base_url=srv.base_url, api_key="sk-test", **kw)


def test_plain_completion_usage_and_request_fields(server):
    srv = server([{"content": "hi", "usage": {"prompt_tokens": 1200, "completion_tokens": 300}}])
    b = backend(srv, temperature=0.3, top_p=0.9, max_tokens=77, price={"input": 2.5, "output": 10})
    c = b.complete(MSGS)
    assert (c.content, c.input_tokens, c.output_tokens) == ("hi", 1200, 300)
    assert c.cost == pytest.approx((1200 * 2.5 + 300 * 10) / 1e6)
    req = srv.requests[0]
    assert (req["model"], req["temperature"], req["top_p"], req["max_tokens"]) == ("scripted-model", 0.3, 0.9, 77)
    assert req["messages"] == MSGS


def test_cost_from_price_table_and_override_file(server, tmp_path, monkeypatch):
    srv = server([{"content": "a", "usage": {"prompt_tokens": 1_000_000, "completion_tokens": 100_000}}] * 2)
    c = backend(srv, model="gpt-4o-2024-08-06").complete(MSGS)
    assert c.cost == pytest.approx(2.5 + 1.0)  # list price of gpt-4o: $2.5 / $10 per M
    prices = tmp_path / "prices.yaml"
    prices.write_text("scripted-model: {input: 1, output: 2}\n")
    monkeypatch.setenv("MLGYM_PRICES", str(prices))
    b = backend(srv)
    assert b.warnings == []
    assert b.complete(MSGS).cost == pytest.approx(1.0 + 0.2)


def test_unknown_model_costs_zero_with_a_warning(server):
    b = backend(server([{"content": "x"}]), model="my-local-llama")
    assert b.complete(MSGS).cost == 0.0
    assert len(b.warnings) == 1 and "my-local-llama" in b.warnings[0]


def test_tool_calls_are_returned(server):
    srv = server([{"content": None, "tool_calls": [{"name": "bash", "arguments": {"command": "ls"}},
                                                   {"name": "validate", "arguments": "{}"}]}])
    c = backend(srv).complete(MSGS, tools=[{"type": "function", "function": {"name": "bash", "parameters": {}}}])
    assert c.content == ""
    assert [t["function"]["name"] for t in c.tool_calls] == ["bash", "validate"]
    assert c.tool_calls[0]["function"]["arguments"] == '{"command": "ls"}'
    assert srv.requests[0]["tools"][0]["function"]["name"] == "bash"


def test_retries_429_and_5xx_then_succeeds(server):
    srv = server([{"status": 429}, {"status": 503}, {"status": 500}, {"content": "ok"}])
    assert backend(srv, max_retries=3).complete(MSGS).content == "ok"
    assert len(srv.requests) == 4


def test_429_storm_gives_up_after_bounded_retries_with_backoff(server):
    srv = server([{"status": 429, "message": "Rate limit reached"}], repeat=True)
    t0 = time.perf_counter()
    with pytest.raises(ModelError, match="HTTP 429 after 4 attempts") as ei:
        backend(srv, max_retries=3, retry_wait=0.05).complete(MSGS)
    assert type(ei.value) is ModelError and ei.value.exit_action == "exit_api"
    assert len(srv.requests) == 4
    assert time.perf_counter() - t0 >= (0.05 + 0.1 + 0.2) * 0.5  # exponential waits (jitter >= 0.5)


@pytest.mark.parametrize("status", [400, 401, 403, 404])
def test_client_errors_are_not_retried(server, status):
    srv = server([{"status": status}, {"content": "never"}])
    with pytest.raises(ModelError, match=f"HTTP {status}"):
        backend(srv, max_retries=5).complete(MSGS)
    assert len(srv.requests) == 1


def test_wrong_key_is_a_401_without_retry(server):
    srv = server([{"content": "x"}], api_key="right")
    b = OpenAIBackend("m", base_url=srv.base_url, api_key="wrong", retry_wait=0.01)
    with pytest.raises(ModelError, match="HTTP 401"):
        b.complete(MSGS)
    assert len(srv.requests) == 0  # refused before taking a script entry


@pytest.mark.parametrize("entry", [
    {"status": 400, "code": "context_length_exceeded", "message": "This model's maximum context length is 8192"},
    {"status": 400, "message": "Input is too long for requested model: prompt is too long"},
])
def test_context_length_error(server, entry):
    srv = server([entry, {"content": "never"}])
    with pytest.raises(ContextWindowError) as ei:
        backend(srv).complete(MSGS)
    assert ei.value.exit_action == "exit_context"
    assert len(srv.requests) == 1


def test_timeout_is_retried(server):
    srv = server([{"delay": 1.0, "content": "late"}, {"content": "on time"}])
    assert backend(srv, timeout=0.3).complete(MSGS).content == "on time"


def test_reply_cut_half_way_is_retried_then_fails(server):
    srv = server([{"cut": True, "content": "x" * 400}, {"content": "whole"}])
    assert backend(srv).complete(MSGS).content == "whole"
    srv2 = server([{"cut": True, "content": "x" * 400}], repeat=True)
    with pytest.raises(ModelError, match="attempts"):
        backend(srv2, max_retries=2).complete(MSGS)
    assert len(srv2.requests) == 3


def test_streaming_content_tool_calls_and_usage(server):
    srv = server([{"content": "DISCUSSION\nStreamed reply that is longer than one chunk.\n```\nls\n```",
                   "usage": {"prompt_tokens": 50, "completion_tokens": 20}},
                  {"content": "", "tool_calls": [{"name": "bash", "arguments": {"command": "pwd"}}]}])
    b = backend(srv, stream=True)
    c = b.complete(MSGS)
    assert c.content.endswith("```\nls\n```") and (c.input_tokens, c.output_tokens) == (50, 20)
    assert srv.requests[0]["stream"] is True
    c2 = b.complete(MSGS)
    assert c2.tool_calls[0]["function"] == {"name": "bash", "arguments": '{"command": "pwd"}'}


def test_stream_cut_half_way(server):
    srv = server([{"cut": True, "content": "y" * 200}], repeat=True)
    with pytest.raises(ModelError, match="attempts"):
        backend(srv, stream=True, max_retries=1).complete(MSGS)
    assert len(srv.requests) == 2


def test_unreachable_endpoint(monkeypatch):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there
    b = OpenAIBackend("m", base_url=f"http://127.0.0.1:{port}/v1", api_key="k", max_retries=1, retry_wait=0.01)
    with pytest.raises(ModelError, match=r"APIConnectionError talking to http://127\.0\.0\.1.*after 2 attempts"):
        b.complete(MSGS)


def test_body_that_is_not_a_completion_is_retried_and_blamed_on_the_endpoint(server):
    srv = server([{"raw": "{\"nothing\": true}"}], repeat=True)
    with pytest.raises(ModelError, match="not a chat completion") as ei:
        backend(srv, max_retries=1).complete(MSGS)
    assert ei.value.exit_action == "exit_api" and len(srv.requests) == 2


@pytest.mark.parametrize("raw", ["<html><body><h1>502 Bad Gateway</h1></body></html>",
                                 '{"choices": [{"message": 5}]}', '{"choices": [{"mess'])
def test_html_or_malformed_200_is_retried_then_succeeds(server, raw):
    from mlgym_core.progress import _listeners

    seen: list[str] = []
    _listeners.append(seen.append)
    try:
        srv = server([{"raw": raw}, {"content": "fine"}])
        assert backend(srv).complete(MSGS).content == "fine"
    finally:
        _listeners.remove(seen.append)
    assert len(srv.requests) == 2
    assert len(seen) == 1 and "not a chat completion" in seen[0] and "attempt 1 of 6" in seen[0]


def test_html_200_ends_with_exit_api_and_the_body_in_the_reason(server):
    srv = server([{"raw": "<html>proxy error</html>"}], repeat=True)
    with pytest.raises(ModelError, match=r"answered 3 times.*proxy error") as ei:
        backend(srv, max_retries=2).complete(MSGS)
    assert ei.value.exit_action == "exit_api"


def test_default_timeout_is_minutes_and_timeouts_retried_at_most_twice(server, monkeypatch):
    monkeypatch.delenv("MLGYM_MODEL_TIMEOUT", raising=False)
    srv = server([{"content": "x"}])
    assert 60 <= backend(srv).timeout <= 300
    slow = server([{"delay": 0.5, "content": "late"}], repeat=True)
    with pytest.raises(ModelError, match="after 3 attempts"):
        backend(slow, timeout=0.1, max_retries=5).complete(MSGS)


def test_environment_conventions(server, monkeypatch):
    srv = server([{"content": "env"}], api_key="from-env")
    monkeypatch.setenv("OPENAI_BASE_URL", srv.base_url)
    monkeypatch.setenv("OPENAI_API_KEY", "from-env")
    assert OpenAIBackend("m").complete(MSGS).content == "env"


def test_bad_options_are_one_line_errors(monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    with pytest.raises(ConfigError, match="no API key"):
        OpenAIBackend("gpt-4o")
    with pytest.raises(ConfigError, match="temprature"):
        OpenAIBackend("gpt-4o", api_key="k", temprature=0.1)
    with pytest.raises(ConfigError, match="'top_p' must be a number"):
        OpenAIBackend("gpt-4o", api_key="k", top_p="high")
    with pytest.raises(ConfigError, match="price"):
        OpenAIBackend("gpt-4o", api_key="k", price={"input": 1})
