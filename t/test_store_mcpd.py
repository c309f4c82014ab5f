"""The repository inside mcpd: opened (and migrated) before the link
accepts, its stats under repository_stats, its config keys checked with
file:line:col, and a bad database stopping mcpd at start with a clear
message instead of failing later."""

import os
import sqlite3
import subprocess

import pytest

from linkclient import Link
from stack import MCPD_BIN, Fatal, Mcpd


def test_repository_opened_before_accepting(tmp_path):
    m = Mcpd(str(tmp_path / "m"), {"chat": {"service": {"repository": {
        "path": "store.db",
        "connection_pool": {"max_readers": 3, "max_writers": 2}}}}})
    m.start()
    try:
        db = os.path.join(m.dir, "store.db")
        con = sqlite3.connect(db)
        try:
            assert con.execute("PRAGMA user_version").fetchone()[0] >= 2
            assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        finally:
            con.close()
        with Link(m.socket) as l:
            l.hello()
            st = l.stats()["repository_stats"]
        assert st["readers"]["size"] == 3
        assert st["readers"]["open"] == 3
        assert st["writers"]["size"] == 2
        assert st["busy_errors"] == 0
        assert st["schema_version"] == 5
        # nothing appended yet: no conversation's request set is loaded
        assert st["request_sets"] == {"keys": 0, "loads": 0, "confirms": 0,
                                      "stale": 0, "evicted": 0, "foreign": 0,
                                      "warmed": 0, "parked": 0,
                                      "walks_waiting": 0}
        assert st["synchronous"] == "normal"
        assert st["retention"]["policy"] == "token_limit"
        assert st["retention"]["runs"] >= 1          # at start
        assert "ready: schema" in m.log()
    finally:
        assert m.stop() == 0


def test_corrupt_database_stops_mcpd_at_start(tmp_path):
    m = Mcpd(str(tmp_path / "m"),
             {"chat": {"service": {"repository": {"path": "bad.db"}}}})
    with open(os.path.join(m.dir, "bad.db"), "wb") as f:
        f.write(b"not a database at all " * 200)
    with pytest.raises(Fatal):
        m.start(timeout=10)
    rc = m.wait(10)
    assert rc not in (0, None) and rc > 0          # exited, not crashed
    log = m.log()
    assert "bad.db" in log
    assert "not a SQLite database or is corrupt" in log
    # core names the subsystem once: 'repository: "bad.db": ...'
    assert 'repository: "bad.db"' in log
    assert "repository: repository" not in log
    assert not os.path.exists(m.socket)
    m.stop()


def test_repository_keys_are_checked(tmp_path):
    conf = tmp_path / "mcpd.yaml"
    conf.write_text("persistence:\n  retention_policy: forever\n")
    p = subprocess.run([MCPD_BIN, "-c", str(conf), "--check-config"],
                       capture_output=True, text=True, timeout=10)
    assert p.returncode == 1
    assert "mcpd.yaml:2:" in p.stdout + p.stderr
    assert "token_limit" in p.stdout + p.stderr

    conf.write_text("chat:\n  service:\n    repository:\n"
                    "      connection_pool:\n        max_writer: 2\n")
    p = subprocess.run([MCPD_BIN, "-c", str(conf), "--check-config"],
                       capture_output=True, text=True, timeout=10)
    assert p.returncode == 1
    assert "mcpd.yaml:5:" in p.stdout + p.stderr
