"""The provider layer against the C mock, through `mcpd llm call`: what
is sent, streaming text and tool calls in every chunking style, and every
way a provider can fail after (or before) the 200."""

import pytest

from test_llm_util import KEY, Mock, call, provider, write_conf


@pytest.fixture
def mock():
    m = Mock()
    yield m
    m.stop()


def conf_for(tmp_path, mock, model="mock-text", name="mock", **http):
    return write_conf(tmp_path, {name: provider(mock.base_url, model, **http)})


def test_streamed_text_and_request_shape(tmp_path, mock):
    conf = conf_for(tmp_path, mock)
    r = call(conf, "mock", "--stream")
    assert r.rc == 0, r.err
    assert r.text() == "Hello from the mock."
    assert len(r.of("text")) == 4            # deltas passed on one by one
    done = r.ends()[0]
    assert done["event"] == "done" and done["finish_reason"] == "stop"
    assert r.of("usage")[0]["total_tokens"] == 14
    st = r.stats("mock")
    assert st["completed"] == 1 and st["tokens"] == {"in": 10, "out": 4}
    # the four words read without a tree; the finish and usage chunks with
    assert st["chunks"] == {"total": 6, "plain": 4}

    req = mock.requests()[0]
    assert req["path"] == "/v1/chat/completions"
    h = req["headers"]
    assert h["authorization"] == "Bearer " + KEY
    assert h["user-agent"].startswith("mcp-edge/")
    assert h["content-type"] == "application/json"
    assert "http-referer" not in h and "openai-beta" not in h
    b = req["body"]
    assert b["model"] == "mock-text" and b["stream"] is True
    assert b["stream_options"] == {"include_usage": True}
    assert b["messages"] == [{"role": "user", "content": "hi"}]
    assert b["max_tokens"] == 4096 and b["temperature"] == 0.7
    assert b["top_p"] == 1.0 and "tools" not in b


def test_non_streaming(tmp_path, mock):
    conf = conf_for(tmp_path, mock)
    r = call(conf, "mock", "--max-tokens", "77")
    assert r.rc == 0, r.err
    assert r.text() == "Hello from the mock."
    assert r.ends()[0]["finish_reason"] == "stop"
    b = mock.requests()[0]["body"]
    assert "stream" not in b and b["max_tokens"] == 77


@pytest.mark.parametrize("style", ["first", "every", "index0"])
def test_tool_calls_each_chunking_style(tmp_path, mock, style):
    conf = conf_for(tmp_path, mock)
    mock.queue({"scenario": "tools", "style": style})
    tools = '[{"type":"function","function":{"name":"get_weather",' \
            '"parameters":{"type":"object"}}}]'
    r = call(conf, "mock", "--stream", "--tools", tools)
    assert r.rc == 0, r.err
    calls = [(c["id"], c["name"], c["arguments"]) for c in r.of("tool_call")]
    assert calls == [("call_a", "get_weather", '{"city":"Paris"}'),
                     ("call_b", "get_time", '{"tz":"CET"}')]
    assert r.ends()[0]["finish_reason"] == "tool_calls"
    assert mock.requests()[0]["body"]["tools"][0]["function"]["name"] \
        == "get_weather"


def test_openrouter_and_beta_headers(tmp_path, mock):
    p1 = provider(mock.base_url)
    p2 = provider(mock.base_url)
    p2.update({"http_referer": "https://chat.example", "x_title": "Example",
               "openai_beta": "x=1"})
    conf = write_conf(tmp_path, {"openrouter": p1, "custom": p2})
    assert call(conf, "openrouter").rc == 0
    assert call(conf, "custom").rc == 0
    h1, h2 = (r["headers"] for r in mock.requests())
    assert h1["http-referer"] and h1["x-title"] == "mcp-edge"
    assert h2["http-referer"] == "https://chat.example"
    assert h2["x-title"] == "Example" and h2["openai-beta"] == "x=1"


@pytest.mark.parametrize("scenario,code", [
    ("no_finish", "stream_truncated"),
    ("malformed", "bad_response"),
    ("error_event", "provider_error"),
    ("vllm_error", "provider_error"),
])
def test_stream_failures_are_never_silent(tmp_path, mock, scenario, code):
    conf = conf_for(tmp_path, mock)
    mock.queue({"scenario": scenario})
    r = call(conf, "mock", "--stream")
    assert r.rc == 1
    end = r.ends()[0]
    assert end["event"] == "error" and end["code"] == code, end
    assert end["message"]
    # output already reached the caller (or the provider said error): one try
    assert len(mock.requests()) == 1


def test_reset_after_first_byte_is_not_retried(tmp_path, mock):
    conf = conf_for(tmp_path, mock)
    mock.queue({"scenario": "reset_after"})
    r = call(conf, "mock", "--stream")
    assert r.text() == "partial"
    assert r.ends()[0]["code"] == "network_error"
    assert len(mock.requests()) == 1


def test_reset_before_first_byte_is_retried(tmp_path, mock):
    conf = conf_for(tmp_path, mock)
    mock.queue({"scenario": "reset_before"}, {"scenario": "reset_before"})
    r = call(conf, "mock", "--stream")
    assert r.rc == 0, r.out
    assert r.ends()[0]["attempts"] == 3
    assert r.stats("mock")["retries"] == 2


def test_read_timeout_on_a_stall(tmp_path, mock):
    # connect + write timeouts far longer than the stall's start: the
    # read_timeout must take over once the request is sent
    conf = conf_for(tmp_path, mock, read_timeout="400ms", max_retries=0,
                    connect_timeout="10s", write_timeout="10s")
    mock.queue({"scenario": "stall", "stall_ms": 20000})
    r = call(conf, "mock", "--stream")
    end = r.ends()[0]
    assert end["code"] == "timeout" and "read_timeout" in end["message"]
    assert r.text() == "partial"
    assert r.elapsed < 5


def test_read_timeout_before_first_byte_is_retried(tmp_path, mock):
    conf = conf_for(tmp_path, mock, read_timeout="300ms", max_retries=1,
                    connect_timeout="10s", write_timeout="10s")
    mock.queue({"scenario": "text", "first_byte_ms": 3000})
    r = call(conf, "mock", "--stream")
    assert r.rc == 0, r.out
    assert r.ends()[0]["attempts"] == 2
    assert r.elapsed < 3
    assert r.stats("mock")["errors"] == {}


def test_slow_trickle_within_read_timeout_succeeds(tmp_path, mock):
    # read_timeout bounds the gap between bytes, not the whole answer
    conf = conf_for(tmp_path, mock, read_timeout="500ms")
    mock.queue({"scenario": "trickle", "delay_ms": 200,
                "text": "one two three four five"})
    r = call(conf, "mock", "--stream")
    assert r.rc == 0, r.out
    assert r.text() == "one two three four five"
    assert r.ends()[0]["latency_ms"] >= 800


def test_cancel_stops_the_transfer(tmp_path, mock):
    conf = conf_for(tmp_path, mock)
    mock.queue({"scenario": "stall", "stall_ms": 20000})
    r = call(conf, "mock", "--stream", "--cancel-after", "300")
    assert r.of("cancelled") and not r.of("done") and not r.of("error")
    assert r.elapsed < 5
    st = r.stats("mock")
    # the connection carrying the cancelled stream is closed, not pooled
    assert st["in_flight"] == 0 and st["connections"]["open"] == 0
    assert st["errors"].get("cancelled") == 1


@pytest.mark.parametrize("stream", [True, False])
def test_cancel_from_inside_a_callback(tmp_path, mock, stream):
    conf = conf_for(tmp_path, mock)
    args = ["--cancel-on-text", "--count", "20", "--concurrency", "4"]
    r = call(conf, "mock", *(args + (["--stream"] if stream else [])))
    assert len(r.of("cancelled")) == 20
    assert not r.of("done") and not r.of("error")
    st = r.stats("mock")
    assert st["in_flight"] == 0 and st["errors"].get("cancelled") == 20


def test_cancel_while_queued(tmp_path, mock):
    conf = conf_for(tmp_path, mock, concurrent_requests=1)
    mock.queue({"scenario": "trickle", "delay_ms": 300, "text": "a b c"},
               {"scenario": "text"})
    r = call(conf, "mock", "--stream", "--count", "2", "--concurrency", "2",
             "--cancel-after", "200")
    assert len(r.of("cancelled")) == 2
    assert len(mock.requests()) == 1      # the queued one never went out
