"""llm_client_stats through the whole stack: mcpd runs the provider layer
as a subsystem and /health shows it, without the key."""

import pytest

from test_llm_util import KEY, Mock, provider


@pytest.fixture
def mock():
    m = Mock()
    yield m
    m.stop()


def test_health_shows_llm_client_stats_without_key(make_stack, mock,
                                                   monkeypatch):
    monkeypatch.setenv("MOCK_LLM_KEY", KEY)
    p = provider(mock.base_url, requests_per_minute=600, tokens_per_minute=0)
    s = make_stack(mcpd_yaml={"llm": {
        "active": "mock", "fallback": "spare",
        "providers": {"mock": p, "spare": provider(mock.base_url)}}})
    s.start()

    h = s.health()
    llm = h["llm_client_stats"]
    assert llm["active"] == "mock" and llm["fallback"] == "spare"
    st = llm["providers"]["mock"]
    assert st["api_key"] == "set" and st["model"] == "mock-text"
    assert st["breaker"]["state"] == "closed"
    assert st["rate_limit"]["requests_per_minute"] == 600
    assert st["rate_limit"]["requests_left"] == 600
    assert st["in_flight"] == 0 and st["queued"] == 0
    assert set(st["latency_ms"]) >= {"p50", "p99"}
    assert set(st["ttft_ms"]) >= {"p50", "p99"}
    assert st["tokens"] == {"in": 0, "out": 0}
    assert st["chunks"] == {"total": 0, "plain": 0}

    assert KEY not in s.health_text()
    assert KEY not in s.mcpd_log()
    assert "provider mock" in s.mcpd_log()
