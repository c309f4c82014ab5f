"""Keep-alive connections to a provider and large request bodies, through
`mcpd llm call` against the C mock: a connection is reused while it is
fresh; one the provider closed while idle (as providers and their load
balancers do) is replaced without an error or a retry; one idle longer than
keepalive_expiry is not reused; a body of megabytes arrives whole, and the
read timeout still bounds a provider that goes quiet after receiving it."""

import json

import pytest

from test_llm_util import call, provider, write_conf


@pytest.fixture
def mock(llm_mock):
    """conftest's LLM mock (started and stopped per test)."""
    return llm_mock


def conf_for(tmp_path, mock, **http):
    return write_conf(tmp_path, {"mock": provider(mock.base_url, **http)})


def chat_conns(mock):
    return [r["conn"] for r in mock.requests()
            if r["path"].endswith("/chat/completions")]


def assert_all_done(r, n):
    ends = r.ends()
    assert sorted(ends) == list(range(n)), r.out + r.err
    for i in range(n):
        assert ends[i]["event"] == "done", ends[i]
        assert r.text(i) == "Hello from the mock."


def test_sequential_requests_share_one_connection(tmp_path, mock):
    conf = conf_for(tmp_path, mock)
    r = call(conf, "mock", "--stream", "--count", "3", "--interval", "100")
    assert r.rc == 0, r.err
    assert_all_done(r, 3)
    conns = chat_conns(mock)
    assert len(conns) == 3 and len(set(conns)) == 1, conns
    assert r.stats("mock")["connections"]["opened"] == 1


def test_connection_closed_while_idle_is_replaced(tmp_path, mock):
    # the first answer's connection is closed by the provider 50 ms after
    # the reply; the next request starts 400 ms after the first one
    conf = conf_for(tmp_path, mock)
    mock.queue({"scenario": "text", "idle_close_ms": 50}, {"scenario": "text"})
    r = call(conf, "mock", "--stream", "--count", "2", "--interval", "400")
    assert r.rc == 0, r.err
    assert_all_done(r, 2)
    conns = chat_conns(mock)
    assert len(conns) == 2 and conns[0] != conns[1], conns
    st = r.stats("mock")
    assert st["retries"] == 0 and st["errors"] == {}, st
    assert st["connections"]["opened"] == 2
    assert all(e["attempts"] == 1 for e in r.ends().values())


def test_connection_idle_past_keepalive_expiry_is_not_reused(tmp_path, mock):
    conf = conf_for(tmp_path, mock, keepalive_expiry="1s")
    r = call(conf, "mock", "--stream", "--count", "2", "--interval", "300")
    assert r.rc == 0, r.err
    assert_all_done(r, 2)
    conns = chat_conns(mock)
    assert len(conns) == 2 and conns[0] == conns[1], conns   # still fresh

    mock.reset()
    r = call(conf, "mock", "--stream", "--count", "2", "--interval", "1600")
    assert r.rc == 0, r.err
    assert_all_done(r, 2)
    conns = chat_conns(mock)
    assert len(conns) == 2 and conns[0] != conns[1], conns   # too old


def big_messages(tmp_path, size):
    """A conversation of about `size` bytes of JSON, with multi-byte
    characters and quotes, in a file (one argv string holds only 128 KiB)."""
    piece = 'les "tests" sont la preuve \u2014 \u00e9t\u00e9 \U0001f600 \\ '
    text = (piece * (size // len(piece.encode()) + 1))
    msgs = [{"role": "system", "content": "You are terse."},
            {"role": "user", "content": text},
            {"role": "assistant", "content": "ok"},
            {"role": "user", "content": "and now?"}]
    path = tmp_path / "messages.json"
    path.write_text(json.dumps(msgs), encoding="utf-8")
    return msgs, "@" + str(path)


def test_large_body_arrives_whole(tmp_path, mock):
    msgs, arg = big_messages(tmp_path, 3 << 20)
    conf = conf_for(tmp_path, mock)
    r = call(conf, "mock", "--stream", args_messages=arg)
    assert r.rc == 0, r.err
    assert_all_done(r, 1)
    got = mock.requests()[0]["body"]["messages"]
    assert got == msgs


def test_read_timeout_after_a_large_body(tmp_path, mock):
    # the provider takes 3 MB, sends one chunk, then goes quiet: the
    # read_timeout (not the write timeout, not the whole request's time)
    # ends it
    msgs, arg = big_messages(tmp_path, 3 << 20)
    conf = conf_for(tmp_path, mock, read_timeout="400ms", max_retries=0,
                    connect_timeout="10s", write_timeout="10s")
    mock.queue({"scenario": "stall", "stall_ms": 20000})
    r = call(conf, "mock", "--stream", args_messages=arg)
    end = r.ends()[0]
    assert end["code"] == "timeout" and "read_timeout" in end["message"], end
    assert r.text() == "partial"
    assert r.elapsed < 5
    assert mock.requests()[0]["body"]["messages"] == msgs
