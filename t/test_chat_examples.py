"""The deployment examples of docs/operations.md (conf/examples/*): each
mcpd.yaml passes --check-config, each nginx.conf passes `nginx -t` with the
real module, and each size's chat, limits and store settings serve a real
chat turn through nginx + mcpd."""

import asyncio
import os
import re
import subprocess
import sys

import pytest
import yaml

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
from chat_client import ChatClient, conv_of  # noqa: E402
from stack import MCPD_BIN, MODULE_SO, NGINX_BIN, ROOT, Stack  # noqa: E402

SIZES = ["small", "medium", "large"]
EXAMPLES = os.path.join(ROOT, "conf", "examples")


@pytest.mark.parametrize("size", SIZES)
def test_mcpd_example_is_valid(size):
    out = subprocess.run([MCPD_BIN, "-c",
                          os.path.join(EXAMPLES, size, "mcpd.yaml"),
                          "--check-config"],
                         capture_output=True, text=True, timeout=20)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr


@pytest.mark.parametrize("size", SIZES)
def test_nginx_example_is_valid(size, tmp_path):
    with open(os.path.join(EXAMPLES, size, "nginx.conf")) as f:
        text = f.read()
    text = text.replace("load_module build/ngx_mcp_module.so;",
                        "load_module %s;" % MODULE_SO)
    text = re.sub(r"root www;", "root %s;" % os.path.join(ROOT, "www"), text)
    if os.geteuid() == 0:
        text = text.replace("worker_processes", "user root;\nworker_processes",
                            1)
    (tmp_path / "run" / "tmp").mkdir(parents=True)
    conf = tmp_path / "nginx.conf"
    conf.write_text(text)
    out = subprocess.run([NGINX_BIN, "-t", "-p", str(tmp_path) + "/", "-c",
                          str(conf), "-e", str(tmp_path / "error.log")],
                         capture_output=True, text=True, timeout=20)
    assert out.returncode == 0, out.stderr


@pytest.mark.parametrize("size", SIZES)
def test_example_settings_serve_a_chat(size, make_stack):
    with open(os.path.join(EXAMPLES, size, "mcpd.yaml")) as f:
        conf = yaml.safe_load(f)
    chat = conf["chat"]
    chat["service"].pop("repository", None)     # the Stack's own file
    chat["service"]["provider"] = "offline"
    chat["service"]["offline_delay"] = "0ms"
    extra = {"chat": chat}
    if "persistence" in conf:
        extra["persistence"] = conf["persistence"]
    s = make_stack(mcpd_yaml=extra)
    s.start()

    async def main():
        async with ChatClient(s.ws_url) as c:
            f = await c.chat("hello")
            f2 = await c.chat("again", conv=conv_of(f))
            return f, f2
    f, f2 = asyncio.run(main())
    assert f[-1]["status"] == "complete" and f2[-1]["status"] == "complete"
