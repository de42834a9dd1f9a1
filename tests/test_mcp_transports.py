"""acflow mcp as a user starts it: over stdio as a subprocess (a desktop assistant's way) and over
streamable HTTP (bearer token required, bound to loopback), with the SDK's own client."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import anyio
import pytest

pytest.importorskip("mcp", reason="the mcp extra (pip install 'acflow[mcp]') is not installed")

import httpx2
from mcp import Client, StdioServerParameters
from mcp.client.streamable_http import streamable_http_client
from test_mcp import build_mirror, plain, text

ACFLOW = str(Path(sys.executable).parent / "acflow")


@pytest.fixture(scope="module")
def synced(sandbox_server: Any, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return build_mirror(sandbox_server, tmp_path_factory.mktemp("mcp_io"))


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ACTIVECAMPAIGN_", "ACFLOW_"))}
    return {**env, **extra}


def test_stdio_subprocess_answers_as_plain_sql(synced):
    params = StdioServerParameters(command=ACFLOW, args=["mcp", "--mirror", str(synced["mirror"]),
                                                          "--config", str(synced["config"])],
                                   env=_env(), cwd=str(synced["dir"]))

    async def go() -> tuple[Any, ...]:
        with anyio.fail_after(120):
            return await talk()

    async def talk() -> tuple[Any, ...]:
        async with Client(params, mode="legacy") as client:
            tools = {t.name for t in (await client.list_tools()).tools}
            counts = await client.call_tool("query", {"sql": "SELECT status_label, count(*) FROM deals "
                                                             "GROUP BY ALL ORDER BY ALL"})
            refused = await client.call_tool("query", {"sql": "COPY deals TO 'stolen.csv'"})
            flows = await client.call_tool("list_flows", {})
            return tools, counts, refused, flows

    tools, counts, refused, flows = anyio.run(go)
    assert tools == {"list_entities", "list_flows", "describe", "query", "preview_flow"}
    expected = plain(synced, f'SELECT CASE status WHEN 0 THEN \'open\' WHEN 1 THEN \'won\' WHEN 2 THEN \'lost\' END, '
                             f'count(*) FROM "{synced["schema"]}".deals WHERE _acflow_deleted_at IS NULL '
                             "GROUP BY ALL ORDER BY ALL")
    assert [tuple(r) for r in counts.structured_content["rows"]] == expected
    assert refused.is_error and "only SELECT is allowed, read-only: this is a COPY statement" in text(refused)
    assert not (synced["dir"] / "stolen.csv").exists()
    assert len(flows.structured_content["rows"]) == 8


def test_stdio_without_a_mirror_is_one_line(tmp_path):
    result = subprocess.run([ACFLOW, "mcp", "--mirror", str(tmp_path / "none.duckdb")], capture_output=True,
                            text=True, env=_env(), cwd=tmp_path, timeout=60, stdin=subprocess.DEVNULL)
    assert result.returncode == 2
    assert result.stderr.strip() == (f"Error: mirror {tmp_path / 'none.duckdb'} does not exist: run `acflow sync` "
                                     "or `acflow run` first, or give --mirror")
    assert result.stdout == ""


def test_a_missing_sdk_is_one_line_naming_the_extra(synced):
    code = ("import sys; sys.modules['mcp'] = None; from acflow.cli import main; "
            f"sys.argv = ['acflow', 'mcp', '--mirror', {str(synced['mirror'])!r}]; main()")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=_env(), timeout=60,
                            stdin=subprocess.DEVNULL)
    assert result.returncode == 2
    assert result.stderr.strip() == "Error: acflow mcp needs the MCP SDK 2.x: pip install 'acflow[mcp]'"


class _Http:
    """`acflow mcp --http --port 0` as a subprocess: its address and token from its first lines."""

    def __init__(self, synced: dict[str, Any], **env: str) -> None:
        self.proc = subprocess.Popen(
            [ACFLOW, "mcp", "--http", "--port", "0", "--mirror", str(synced["mirror"]), "--config",
             str(synced["config"])], stderr=subprocess.PIPE, stdout=subprocess.PIPE, stdin=subprocess.DEVNULL,
            text=True, env=_env(**env), cwd=str(synced["dir"]))
        self.lines = []
        self.url = ""
        self.token: str | None = None
        while not self.url or (self.token is None and "ACFLOW_MCP_TOKEN" not in env):
            line = self.proc.stderr.readline()
            assert line, f"the server stopped: {''.join(self.lines)}"
            self.lines.append(line)
            if m := re.search(r"at (http://\S+)", line):
                self.url = m.group(1)
            if m := re.search(r"<token>; set ACFLOW_MCP_TOKEN to choose one\): (\S+)", line):
                self.token = m.group(1)

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=30)


def _ask(url: str, token: str) -> Any:
    async def go() -> Any:
        headers = {"Authorization": f"Bearer {token}"}
        async with httpx2.AsyncClient(headers=headers, timeout=60) as http, \
                Client(streamable_http_client(url, http_client=http)) as client:
            return await client.call_tool("query", {"sql": "SELECT count(*) FROM contacts"})
    return anyio.run(go)


def _initialize(url: str, headers: dict[str, str]) -> Any:
    body = {"jsonrpc": "2.0", "id": 1, "method": "initialize",
            "params": {"protocolVersion": "2025-06-18", "capabilities": {},
                       "clientInfo": {"name": "test", "version": "1"}}}
    return httpx2.post(url, json=body, headers={"Accept": "application/json, text/event-stream", **headers},
                       timeout=30)


def test_http_requires_the_token_and_binds_loopback(synced):
    server = _Http(synced)
    try:
        assert server.url.startswith("http://127.0.0.1:") and server.url.endswith("/mcp")
        assert server.token and len(server.token) >= 40
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Basic {server.token}"},
                        {"Authorization": f"Bearer {server.token}x"}):
            answer = _initialize(server.url, headers)
            assert answer.status_code == 401, headers
            assert answer.headers["www-authenticate"] == "Bearer"
        assert _initialize(server.url, {"Authorization": f"Bearer {server.token}"}).status_code == 200
        result = _ask(server.url, server.token)
        assert result.structured_content["rows"] == [[500]]
        port = int(server.url.rsplit(":", 1)[1].split("/")[0])
        assert _listening_on(port) == {"127.0.0.1"}
        printed = "".join(server.lines)
        assert printed.count(server.token) == 1  # printed once, at start
    finally:
        server.stop()


def test_http_takes_its_token_from_the_environment_and_never_prints_it(synced):
    server = _Http(synced, ACFLOW_MCP_TOKEN="a-token-chosen-by-the-user-0123456789")
    try:
        assert server.token is None and "a-token-chosen" not in "".join(server.lines)
        assert _ask(server.url, "a-token-chosen-by-the-user-0123456789").structured_content["rows"] == [[500]]
        assert _initialize(server.url, {}).status_code == 401
    finally:
        server.stop()
    rest = server.proc.stderr.read()
    assert "a-token-chosen" not in rest


def _listening_on(port: int) -> set[str]:
    """The local addresses a TCP port listens on, from /proc/net/tcp (Linux); skips elsewhere."""
    path = Path("/proc/net/tcp")
    if not path.exists():
        pytest.skip("no /proc/net/tcp to check the listening address on")
    found = set()
    for line in path.read_text().splitlines()[1:]:
        local, state = line.split()[1], line.split()[3]
        addr, hex_port = local.split(":")
        if int(hex_port, 16) == port and state == "0A":  # LISTEN
            found.add(".".join(str(int(addr[i:i + 2], 16)) for i in (6, 4, 2, 0)))
    six = Path("/proc/net/tcp6")
    if six.exists():
        for line in six.read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            if int(local.split(":")[1], 16) == port and state == "0A":
                found.add("ipv6")
    return found


def test_asgi_app_mounts_in_another_starlette_app(synced):
    """What `acflow serve` does: the endpoint at /mcp of its own app, the session manager in its lifespan."""
    import socket
    import threading
    import time

    import uvicorn
    from starlette.applications import Starlette
    from starlette.responses import PlainTextResponse
    from starlette.routing import Route

    from acflow.mcp.server import asgi_app

    mcp_app = asgi_app(synced["config"], synced["mirror"], "serve-token-0123456789")
    host = Starlette(routes=[Route("/health", lambda request: PlainTextResponse("ok")), Route("/mcp", mcp_app)],
                     lifespan=lambda app: mcp_app.lifespan())
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(host, log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        for _ in range(200):
            if server.started:
                break
            time.sleep(0.05)
        url = f"http://127.0.0.1:{port}/mcp"
        assert httpx2.get(f"http://127.0.0.1:{port}/health").text == "ok"
        assert _initialize(url, {}).status_code == 401
        assert _ask(url, "serve-token-0123456789").structured_content["rows"] == [[500]]
    finally:
        server.should_exit = True
        thread.join(timeout=30)
