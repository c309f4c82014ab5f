"""Shared pytest fixtures for the integration tests.

    stack   a started Stack (nginx + mcpd, defaults), stopped after the test
    mcpd    a started mcpd alone (no nginx), for link-level tests
    link    a Link to that mcpd, HELLO done
    make_stack(**kw)  build more stacks; all are stopped after the test
    redis_server, llm_mock, make_cluster(**kw)
                      redis-server, the LLM mock, and the scaled-out
                      topology (t/lib/cluster.py)
"""

import os
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))

from stack import Mcpd, Stack  # noqa: E402
from linkclient import Link  # noqa: E402
from cluster import llm_mock, make_cluster, redis_server  # noqa: E402,F401


@pytest.fixture
def make_stack(tmp_path):
    made = []

    def make(**kw):
        sub = tmp_path / ("stack%d" % len(made))
        sub.mkdir()
        s = Stack(sub, **kw)
        made.append(s)
        return s

    yield make
    for s in made:
        s.stop()


@pytest.fixture
def stack(make_stack):
    s = make_stack()
    s.start()
    return s


@pytest.fixture
def make_mcpd(tmp_path):
    made = []

    def make(yaml=None, **kw):
        m = Mcpd(str(tmp_path / ("mcpd%d" % len(made))), yaml, **kw)
        made.append(m)
        return m

    yield make
    for m in made:
        m.stop()


@pytest.fixture
def mcpd(make_mcpd):
    return make_mcpd().start()


@pytest.fixture
def link(mcpd):
    with Link(mcpd.socket) as l:
        l.hello()
        yield l
