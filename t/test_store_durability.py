"""kill -9 in the middle of sustained writes: after each restart the
database passes PRAGMA integrity_check and every append the repository
acknowledged as durable is there, byte for byte."""

import os
import signal
import sqlite3

import pytest

from test_store_util import content, read_lines_until, run, start


def kill_mid_write(db, conv, extra):
    proc = start(db, "--callers", "16", "--conversation", conv, *extra)
    try:
        lines, rest = read_lines_until(proc, 1500, 10.0)
        assert any(l.startswith("READY") for l in lines), lines[:3]
        proc.send_signal(signal.SIGKILL)
        # what it printed before dying was acknowledged too
        tail = proc.stdout.read()
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == -signal.SIGKILL
    text = "\n".join(lines) + "\n" + (rest + tail).decode(errors="replace")
    acks = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[0] == "ACK":
            acks[parts[1]] = int(parts[2])
    assert "ERR" not in text
    return acks


def check_acked(db, conv, acks):
    con = sqlite3.connect(db)
    try:
        assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        rows = dict(
            (rid, (rowid, bytes(blob)))
            for rid, rowid, blob in con.execute(
                "SELECT request_id, id, CAST(content AS BLOB) FROM messages"
                " WHERE conversation_id = ?", (conv,)))
    finally:
        con.close()
    missing = [rid for rid in acks if rid not in rows]
    assert not missing, "%d acknowledged appends lost, e.g. %s" % (
        len(missing), missing[:5])
    for rid, rowid in acks.items():
        assert rows[rid][0] == rowid
        assert rows[rid][1] == content(rid)


@pytest.mark.parametrize("extra", [[], ["--no-pooling"], ["--sync", "full"]],
                         ids=["pool", "single", "full"])
def test_kill9_keeps_acknowledged_writes(tmp_path, extra):
    db = str(tmp_path / "store.db")
    for cycle in range(3):
        conv = "c%d" % cycle
        acks = kill_mid_write(db, conv, extra)
        assert len(acks) > 50, "driver acknowledged too little to test"
        check_acked(db, conv, acks)

    # and the repository opens it again and goes on writing
    rc, out, err = run(db, "--callers", "4", "--count", "5",
                       "--conversation", "after")
    assert rc == 0, (out[-3:], err)
    assert out[-1] == "DONE acked=20 errors=0"
