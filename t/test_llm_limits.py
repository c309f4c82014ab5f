"""Retries, Retry-After, the breaker and fallback, rate limits, queues,
concurrency, keys and config errors: the provider layer against the C
mock through `mcpd llm call`."""

import os
import subprocess

import pytest

from test_llm_util import KEY, Mock, call, mcpd_bin, provider, write_conf


@pytest.fixture
def mock():
    m = Mock()
    yield m
    m.stop()


def one(tmp_path, mock, model="mock-text", **http):
    return write_conf(tmp_path, {"mock": provider(mock.base_url, model, **http)})


def arrivals(mock):
    return [r["t_ms"] for r in mock.requests()]


def test_429_honours_retry_after_seconds(tmp_path, mock):
    conf = one(tmp_path, mock)
    mock.queue({"scenario": "status", "status": 429, "retry_after": "1"})
    r = call(conf, "mock", "--stream")
    assert r.rc == 0, r.out
    assert r.ends()[0]["attempts"] == 2
    t = arrivals(mock)
    assert t[1] - t[0] >= 950          # waited what the provider asked
    assert r.stats("mock")["retries"] == 1


def test_retry_after_ms_and_http_date(tmp_path, mock):
    conf = one(tmp_path, mock)
    mock.queue({"scenario": "status", "status": 503, "retry_after_ms": "300"},
               {"scenario": "status", "status": 429,
                "retry_after": "Wed, 21 Oct 2015 07:28:00 GMT"})
    r = call(conf, "mock")
    assert r.rc == 0, r.out
    t = arrivals(mock)
    assert len(t) == 3
    assert t[1] - t[0] >= 280           # retry-after-ms: 300 ms
    assert t[2] - t[1] < 250            # a date in the past: at once


def test_5xx_backoff_then_success(tmp_path, mock):
    conf = one(tmp_path, mock, backoff_factor=0.1)
    mock.queue({"scenario": "status", "status": 500},
               {"scenario": "status", "status": 502})
    r = call(conf, "mock", "--stream")
    assert r.rc == 0, r.out
    assert r.ends()[0]["attempts"] == 3
    assert r.text() == "Hello from the mock."


def test_persistent_5xx_fails_after_max_retries(tmp_path, mock):
    conf = one(tmp_path, mock, "mock-status", max_retries=2,
               breaker_failures=0)
    r = call(conf, "mock", "--stream")
    end = r.ends()[0]
    assert end["code"] == "server_error" and end["http_status"] == 500
    assert end["attempts"] == 3 and len(mock.requests()) == 3
    assert "HTTP 500" in end["message"]


def test_retry_after_beyond_budget_fails_at_once(tmp_path, mock):
    conf = one(tmp_path, mock, retry_budget="2s")
    mock.queue({"scenario": "status", "status": 429, "retry_after": "30"})
    r = call(conf, "mock")
    end = r.ends()[0]
    assert end["code"] == "rate_limited" and end["attempts"] == 1
    assert "retry_budget" in end["message"]
    assert r.elapsed < 5


def test_4xx_is_not_retried(tmp_path, mock):
    conf = one(tmp_path, mock)
    mock.queue({"scenario": "status", "status": 400})
    r = call(conf, "mock")
    end = r.ends()[0]
    assert end["code"] == "http_error" and end["http_status"] == 400
    assert len(mock.requests()) == 1


def test_breaker_opens_and_fallback_answers(tmp_path, mock):
    primary = provider(mock.base_url, "mock-status", max_retries=0,
                       breaker_failures=2, breaker_cooldown="30s")
    backup = provider(mock.base_url, "mock-text")
    conf = write_conf(tmp_path, {"primary": primary, "backup": backup},
                      fallback="backup")
    r = call(conf, "primary", "--stream", "--count", "5")
    assert r.rc == 0, r.out
    ends = r.ends()
    assert all(ends[i]["event"] == "done" for i in range(5))
    assert all(ends[i]["provider"] == "backup" and ends[i]["fell_back"]
               for i in range(5))
    models = [q["body"]["model"] for q in mock.requests()]
    # two failures open the breaker; after that the primary is not tried
    assert models.count("mock-status") == 2
    assert models.count("mock-text") == 5
    st = r.stats()
    assert st["providers"]["primary"]["breaker"]["state"] == "open"
    assert st["providers"]["primary"]["breaker"]["opens"] == 1
    assert st["providers"]["primary"]["fallbacks"] == 5
    assert st["fallback"] == "backup"


def test_breaker_open_without_fallback_fails_clearly(tmp_path, mock):
    conf = one(tmp_path, mock, "mock-status", max_retries=0,
               breaker_failures=1)
    r = call(conf, "mock", "--count", "3")
    codes = [r.ends()[i]["code"] for i in range(3)]
    assert codes == ["server_error", "circuit_open", "circuit_open"]
    assert len(mock.requests()) == 1


def test_half_open_probe_closes_or_reopens_the_breaker(tmp_path, mock):
    conf = one(tmp_path, mock, max_retries=0, breaker_failures=1,
               breaker_cooldown="300ms")
    # one request every 100 ms: the first fails and opens the breaker,
    # those in the next 300 ms are refused, the first after that is the
    # probe: it fails (re-opens), the next probe succeeds (closes), and
    # from then on everything goes through
    mock.queue({"scenario": "status", "status": 503},
               {"scenario": "status", "status": 503})
    r = call(conf, "mock", "--count", "12", "--interval", "100")
    ends = r.ends()
    codes = [ends[i].get("code", ends[i]["event"]) for i in range(12)]
    assert codes[0] == "server_error" and codes[1] == "circuit_open", codes
    assert codes.count("server_error") == 2, codes
    second = codes.index("server_error", 1)
    assert all(c == "circuit_open" for c in codes[1:second]), codes
    first_ok = codes.index("done")
    assert all(c == "circuit_open" for c in codes[second + 1:first_ok])
    assert all(c == "done" for c in codes[first_ok:]) and codes[-1] == "done"
    st = r.stats("mock")["breaker"]
    assert st["state"] == "closed" and st["opens"] == 2
    assert len(mock.requests()) == 2 + codes.count("done")


def test_rpm_burst_is_delayed_then_queue_full(tmp_path, mock):
    conf = one(tmp_path, mock, requests_per_minute=60, queue_size=2,
               concurrent_requests=100, max_connections=100)
    r = call(conf, "mock", "--count", "64", "--concurrency", "64",
             "--quiet-text")
    ends = r.ends()
    ok = [i for i in ends if ends[i]["event"] == "done"]
    full = [i for i in ends if ends[i].get("code") == "queue_full"]
    assert len(ok) == 62 and len(full) == 2, r.out[-2000:]
    # the two over the cap waited for budget (1/s), they did not fail
    late = sorted(ends[i]["latency_ms"] for i in ok)[-2:]
    assert late[0] >= 900 and late[1] >= 1900
    assert all(ends[i]["t_ms"] < 500 for i in full)   # refused at once
    assert "wait queue is full" in ends[full[0]]["message"]


def test_tpm_reserves_and_settles(tmp_path, mock):
    # max_tokens 600 of a 1200 TPM budget: two fit at once; real usage
    # (14 tokens) is settled, so the third does not wait a whole minute
    conf = one(tmp_path, mock, tokens_per_minute=1200)
    r = call(conf, "mock", "--stream", "--count", "4", "--concurrency", "1",
             "--max-tokens", "600", "--quiet-text")
    assert r.rc == 0, r.out
    assert r.elapsed < 10


def test_follows_x_ratelimit_headers(tmp_path, mock):
    conf = one(tmp_path, mock, requests_per_minute=600)
    mock.queue({"scenario": "text", "headers": {
        "x-ratelimit-remaining-requests": "0",
        "x-ratelimit-reset-requests": "0m1.5s",          # Groq style
        "x-ratelimit-remaining-tokens": "5000",
        "x-ratelimit-reset-tokens": "6m0.5s"}})
    r = call(conf, "mock", "--count", "2", "--concurrency", "1")
    assert r.rc == 0, r.out
    t = arrivals(mock)
    assert t[1] - t[0] >= 1400          # blocked until the provider's reset


def test_concurrency_limit(tmp_path, mock):
    conf = one(tmp_path, mock, concurrent_requests=2)
    for _ in range(6):
        mock.queue({"scenario": "text", "first_byte_ms": 300})
    r = call(conf, "mock", "--stream", "--count", "6", "--concurrency", "6")
    assert r.rc == 0, r.out
    t = sorted(arrivals(mock))
    # three waves of two
    assert t[1] - t[0] < 150 and t[2] - t[0] >= 280 and t[4] - t[2] >= 280


def test_pool_timeout_when_all_slots_busy(tmp_path, mock):
    conf = one(tmp_path, mock, concurrent_requests=1, pool_timeout="200ms")
    mock.queue({"scenario": "trickle", "delay_ms": 400, "text": "a b c"})
    r = call(conf, "mock", "--stream", "--count", "2", "--concurrency", "2")
    ends = r.ends()
    assert ends[0]["event"] == "done"
    assert ends[1]["code"] == "queue_timeout"
    assert 150 <= ends[1]["latency_ms"] < 1000


def test_keys_never_in_logs_or_status(tmp_path, mock):
    conf = write_conf(tmp_path, {"mock": provider(mock.base_url)},
                      extra={"logging": {"level": "debug"}})
    mock.queue({"scenario": "status", "status": 401})
    r = call(conf, "mock", "--stream")
    r2 = call(conf, "mock", "--stream")
    for run in (r, r2):
        assert KEY not in run.out and KEY not in run.err
        assert KEY[8:20] not in run.out + run.err
    assert r2.stats("mock")["api_key"] == "set"
    assert r.ends()[0]["code"] == "http_error"


def test_missing_key_fails_without_sending(tmp_path, mock):
    p = provider(mock.base_url)
    p["api_key_env"] = "MOCK_LLM_KEY_UNSET_X"
    conf = write_conf(tmp_path, {"mock": p})
    r = call(conf, "mock")
    end = r.ends()[0]
    assert end["code"] == "config_error"
    assert "MOCK_LLM_KEY_UNSET_X" in end["message"]
    assert r.stats("mock")["api_key"] == "missing"
    assert "MOCK_LLM_KEY_UNSET_X is not set" in r.err
    assert mock.requests() == []


def test_no_auth_when_key_env_empty(tmp_path, mock):
    p = provider(mock.base_url)
    p["api_key_env"] = ""
    conf = write_conf(tmp_path, {"mock": p})
    assert call(conf, "mock").rc == 0
    assert "authorization" not in mock.requests()[0]["headers"]


@pytest.mark.parametrize("conf_text,where,what", [
    ("llm:\n  active: nope\n  providers:\n    a:\n      base_url: http://x/v1\n"
     "      model: m\n", ":2:", "names provider 'nope'"),
    ("llm:\n  providers:\n    a:\n      base_url: http://x/v1\n      model: m\n"
     "      http_client:\n        max_conections: 3\n", ":7:", "unknown key"),
    ("llm:\n  providers:\n    a:\n      model: m\n", ":4:", "base_url"),
    ("llm:\n  providers:\n    a:\n      base_url: http://x/v1\n      model: m\n"
     "      http_client:\n        max_connections: 2\n        max_keepalive: 1\n"
     "        concurrent_requests: 5\n", ":7:", "concurrent_requests"),
    ("llm:\n  providers:\n    a:\n      base_url: http://x/v1\n      model: m\n"
     "      http_client:\n        read_timeout: soon\n", ":7:", "read_timeout"),
])
def test_config_errors_have_locations(tmp_path, conf_text, where, what):
    path = os.path.join(str(tmp_path), "bad.yaml")
    with open(path, "w") as f:
        f.write(conf_text)
    p = subprocess.run([mcpd_bin(), "-c", path, "--check-config"],
                       capture_output=True, timeout=10)
    err = p.stderr.decode() + p.stdout.decode()
    assert p.returncode != 0
    assert path + where in err and what in err, err


def test_connect_error_is_retried_then_reported(tmp_path):
    import socket
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()                       # nothing listens there now
    conf = write_conf(tmp_path, {"down": provider(
        "http://127.0.0.1:%d/v1" % port, max_retries=2, breaker_failures=3)})
    r = call(conf, "down", "--count", "2")
    ends = r.ends()
    assert ends[0]["code"] == "connect_error" and ends[0]["attempts"] == 3
    # three consecutive failures opened the breaker
    assert ends[1]["code"] == "circuit_open"
    assert r.stats("down")["breaker"]["state"] == "open"
