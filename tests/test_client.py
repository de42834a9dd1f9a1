"""Answers that are not ActiveCampaign's: one clear error, exit 2, before anything is written."""

from __future__ import annotations

import asyncio

import pytest
from aiohttp import web

from acflow import catalog
from acflow.account import Account
from acflow.errors import NotActiveCampaign
from acflow.sync import sync_async


def sync_against(handler, mirror):
    """Run a sync against a real local HTTP server answering with `handler`."""

    async def go():
        app = web.Application()
        app.router.add_get("/{tail:.*}", handler)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]
        account = Account(f"http://127.0.0.1:{port}", "k", rate_limit=1000)
        try:
            return await sync_async(account, [catalog.CATALOG["lists"]], mirror, attempts=2)
        finally:
            await runner.cleanup()

    return asyncio.run(go())


async def login_page(request):
    return web.Response(text="<!doctype html><html><body>Log in</body></html>", content_type="text/html")


async def redirect_to_login(request):
    raise web.HTTPFound("https://www.activecampaign.com/login/")


def test_a_web_page_is_not_an_api(mirror):
    with pytest.raises(NotActiveCampaign) as info:
        sync_against(login_page, mirror)
    assert info.value.exit_code == 2
    assert "answered with a web page, not JSON: this is not the API URL" in str(info.value)
    assert mirror.query("SELECT count(*) FROM _acflow.runs")[0][0] == 0


def test_a_redirect_to_a_login_page_is_not_an_api(mirror):
    with pytest.raises(NotActiveCampaign) as info:
        sync_against(redirect_to_login, mirror)
    assert info.value.exit_code == 2
    assert str(info.value).endswith("redirected to https://www.activecampaign.com/login/: this is not the API "
                                    "URL (copy it from Settings > Developer in ActiveCampaign)")
