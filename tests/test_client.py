"""Answers that are not ActiveCampaign's: one clear error, exit 2, before anything is written."""

from __future__ import annotations

import asyncio

from aiohttp import web

from acflow import catalog
from acflow.account import Account
from acflow.errors import AcflowError, NotActiveCampaign
from acflow.sync import sync_async

RUN = web.AppKey("run", dict)


async def serve(handler, *, state=None, ssl_context=None):
    """`handler` answering every GET on a free local port (`state` as request.app[RUN]);
    returns the runner, to clean up, and the port."""
    app = web.Application()
    if state is not None:
        app[RUN] = state
    app.router.add_get("/{tail:.*}", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=ssl_context)
    await site.start()
    return runner, site._server.sockets[0].getsockname()[1]


def sync_against(handler, mirror, runs=1):
    """Sync `lists` `runs` times against one real local HTTP server answering with `handler`;
    the handler reads request.app[RUN]["n"] (0, 1, ...). Returns each sync's summary or error."""

    async def go():
        state = {"n": 0}
        runner, port = await serve(handler, state=state)
        account = Account(f"http://127.0.0.1:{port}", "k", rate_limit=1000)
        results = []
        try:
            for run in range(runs):
                state["n"] = run
                try:
                    results.append(await sync_async(account, [catalog.CATALOG["lists"]], mirror, attempts=2))
                except AcflowError as exc:
                    results.append(exc)
        finally:
            await runner.cleanup()
        return results, account

    return asyncio.run(go())


async def login_page(request):
    return web.Response(text="<!doctype html><html><body>Log in</body></html>", content_type="text/html")


async def redirect_to_login(request):
    raise web.HTTPFound("https://www.activecampaign.com/login/")


def test_a_web_page_is_not_an_api(mirror):
    [error], _ = sync_against(login_page, mirror)
    assert isinstance(error, NotActiveCampaign) and error.exit_code == 2
    assert "answered with a web page, not JSON: this is not the API URL" in str(error)
    assert mirror.query("SELECT count(*) FROM _acflow.runs")[0][0] == 0


def test_a_redirect_to_a_login_page_is_not_an_api(mirror):
    [error], _ = sync_against(redirect_to_login, mirror)
    assert isinstance(error, NotActiveCampaign) and error.exit_code == 2
    assert str(error).endswith("redirected to https://www.activecampaign.com/login/: this is not the API "
                                    "URL (copy it from Settings > Developer in ActiveCampaign)")


async def lists_then_an_error_body(request):
    """First a list with one record; then a 200 whose JSON lacks "lists" (a proxy, an error body)."""
    if request.path.endswith("/users/me"):
        return web.json_response({"user": {"id": "1"}})
    if request.app[RUN]["n"] == 0:
        return web.json_response({"lists": [{"id": "7", "name": "Newsletter"}], "meta": {"total": "1"}})
    return web.json_response({"message": "Service temporarily unavailable"})


def test_a_response_without_its_records_never_empties_the_mirror(mirror):
    (first, second), account = sync_against(lists_then_an_error_body, mirror, runs=2)
    assert first.ok and first.result("lists").rows == 1
    assert second.result("lists").status == "failed"
    assert "the response has no 'lists'" in second.result("lists").error
    assert mirror.query(f"SELECT id, name FROM {mirror.current(account.url, 'lists')}") == [(7, "Newsletter")]


def test_requests_go_through_the_environments_proxy(sandbox, mirror, monkeypatch):
    """HTTP_PROXY is honoured (looked up once, not per request), NO_PROXY spares a host, and a
    proxy that cannot be reached is named, without its credentials."""
    import aiohttp

    async def go(proxy_down: bool):
        seen: list[str] = []

        async def forward(request):  # a forward proxy: the request line holds the whole URL
            seen.append(str(request.url))
            async with aiohttp.ClientSession() as session, session.get(
                    str(request.url), headers={"Api-Token": request.headers["Api-Token"]}) as answer:
                return web.Response(body=await answer.read(), status=answer.status,
                                    content_type=answer.content_type)

        runner, port = await serve(forward)
        if proxy_down:
            await runner.cleanup()
        monkeypatch.setenv("HTTP_PROXY", f"http://someone:s3cret-pw@127.0.0.1:{port}")
        monkeypatch.delenv("NO_PROXY", raising=False)
        monkeypatch.delenv("no_proxy", raising=False)
        account = Account(sandbox.url, sandbox.admin_key, rate_limit=1000)
        try:
            return seen, await sync_async(account, [catalog.CATALOG["lists"]], mirror, attempts=2)
        except AcflowError as exc:
            return seen, exc
        finally:
            if not proxy_down:
                await runner.cleanup()

    seen, summary = asyncio.run(go(proxy_down=False))
    assert summary.ok and summary.result("lists").rows > 0
    assert len(seen) == summary.requests and all(u.startswith(sandbox.url + "/api/3/") for u in seen)

    _, error = asyncio.run(go(proxy_down=True))
    assert isinstance(error, NotActiveCampaign) and "through the proxy http://127.0.0.1:" in str(error)
    assert "s3cret" not in str(error) and "someone" not in str(error)

    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    from acflow.client import env_proxy
    assert env_proxy(sandbox.url) is None


def test_https_trusts_certifi_or_the_ca_file_the_environment_names(tmp_path, mirror, monkeypatch):
    """A real TLS server with a certificate of its own: refused with a clear error (certifi does
    not know it), accepted once SSL_CERT_FILE names it."""
    import ssl
    import subprocess

    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj",
                    "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key),
                    "-out", str(cert)], check=True, capture_output=True)
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_tls.load_cert_chain(cert, key)

    async def answer(request):
        if request.path.endswith("users/me"):
            return web.json_response({"user": {"id": "1", "localZoneid": "UTC"}})
        return web.json_response({"lists": [{"id": "1", "name": "Newsletter"}], "meta": {"total": "1"}})

    async def go():
        runner, port = await serve(answer, ssl_context=server_tls)
        try:
            return await sync_async(Account(f"https://127.0.0.1:{port}", "k", rate_limit=1000),
                                    [catalog.CATALOG["lists"]], mirror, attempts=2)
        except AcflowError as exc:
            return exc
        finally:
            await runner.cleanup()

    for name in ("SSL_CERT_FILE", "SSL_CERT_DIR"):
        monkeypatch.delenv(name, raising=False)
    refused = asyncio.run(go())
    assert isinstance(refused, NotActiveCampaign) and "certificate is not trusted" in str(refused)
    assert "SSL_CERT_FILE" in str(refused)
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))
    summary = asyncio.run(go())
    assert not isinstance(summary, Exception), summary
    assert summary.ok and summary.result("lists").rows == 1
