"""mcpd's command line: --check-config, --version, --help, bad options."""

import os
import re
import subprocess

from stack import MCPD_BIN, ROOT


def run(*args, cwd=None):
    return subprocess.run([MCPD_BIN] + list(args), capture_output=True,
                          text=True, timeout=10, cwd=cwd)


def check(tmp_path, text):
    p = tmp_path / "mcpd.yaml"
    p.write_text(text)
    return run("-c", str(p), "--check-config"), str(p)


def test_shipped_config_is_valid():
    r = run("-c", os.path.join(ROOT, "conf", "mcpd.yaml"), "--check-config")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "ok"


def test_default_config_path_is_conf_mcpd_yaml():
    r = run("--check-config", cwd=ROOT)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "ok"


def test_unknown_key_names_file_line_col(tmp_path):
    r, p = check(tmp_path, "daemon:\n  socket: x.sock\n  sokcet: y\n")
    assert r.returncode == 1
    assert r.stderr.strip() == "%s:3:3: unknown key 'daemon.sokcet'" % p


def test_unknown_section(tmp_path):
    r, p = check(tmp_path, "logging:\n  level: info\nloging: {}\n")
    assert r.returncode == 1
    assert r.stderr.strip() == "%s:3:1: unknown key 'loging'" % p


def test_wrong_type(tmp_path):
    r, p = check(tmp_path, "daemon:\n  max_links: many\n")
    assert r.returncode == 1
    assert r.stderr.strip() == (
        "%s:2:14: 'daemon.max_links' must be an integer, got 'many'" % p)


def test_section_of_wrong_kind(tmp_path):
    r, p = check(tmp_path, "logging: [info]\n")
    assert r.returncode == 1
    assert r.stderr.strip() == "%s:1:10: 'logging' must be a map, not a list" % p


def test_bad_duration(tmp_path):
    r, p = check(tmp_path, "daemon:\n  shutdown_timeout: 10 seconds\n")
    assert r.returncode == 1
    assert r.stderr.strip() == (
        "%s:2:21: 'daemon.shutdown_timeout' must be a duration (seconds, or "
        "e.g. 250ms, 30s, 5m, 1h), got '10 seconds'" % p)


def test_bad_enum(tmp_path):
    r, p = check(tmp_path, "logging:\n  level: loud\n")
    assert r.returncode == 1
    assert r.stderr.strip() == (
        "%s:2:10: 'logging.level' must be one of: debug, info, warn, error; "
        "got 'loud'" % p)


def test_out_of_range(tmp_path):
    r, p = check(tmp_path, "daemon:\n  max_frame_size: 1g\n")
    assert r.returncode == 1
    assert r.stderr.strip().startswith(
        "%s:2:19: 'daemon.max_frame_size' must be between" % p)


def test_yaml_syntax_error_has_position(tmp_path):
    r, p = check(tmp_path, "daemon:\n  socket: [a\n")
    assert r.returncode == 1
    assert re.match(re.escape(p) + r":\d+:\d+: YAML syntax error: ", r.stderr)


def test_duplicate_key(tmp_path):
    r, p = check(tmp_path, "logging:\n  level: info\n  level: debug\n")
    assert r.returncode == 1
    assert r.stderr.strip() == (
        "%s:3:3: duplicate key 'logging.level' (first at line 2)" % p)


def test_missing_file(tmp_path):
    p = str(tmp_path / "nope.yaml")
    r = run("-c", p, "--check-config")
    assert r.returncode == 1
    assert p in r.stderr and "cannot open" in r.stderr


def test_empty_file_is_all_defaults(tmp_path):
    r, p = check(tmp_path, "# nothing but a comment\n")
    assert r.returncode == 0
    assert r.stdout.strip() == "ok"


def test_version():
    r = run("--version")
    assert r.returncode == 0
    assert re.fullmatch(r"mcpd \d+\.\d+\.\d+\n", r.stdout)


def test_help_and_bad_option():
    r = run("--help")
    assert r.returncode == 0
    assert "--check-config" in r.stdout and "-c" in r.stdout
    r = run("--no-such-option")
    assert r.returncode == 2
    r = run("no-such-command")
    assert r.returncode == 2
    assert "unknown command 'no-such-command'" in r.stderr
