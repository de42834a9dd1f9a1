"""The UI's pages and the routes `acflow serve` mounts beside its API (`routes(service)`).

Every page needs a logged-in browser (auth.py); every POST carries the session's CSRF token.
Pages are rendered on the server from the Service (acflow.service.core): nothing here runs a
flow or reads the mirror by itself except the preview, which compiles the flow over the
service's open mirror. No secret reaches a page: destinations and YAML are shown redacted,
account keys are never read here, and data-URL tokens appear once, right after a rotation.
"""

from __future__ import annotations

import os
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote as urlquote

from jinja2 import Environment, PackageLoader, select_autoescape
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from ..errors import AcflowError, ConfigError
from . import auth, editor, forms

if TYPE_CHECKING:
    from ..service.core import Service

STATUSES = ("queued", "running", "success", "failed", "skipped", "unchanged")
_CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "frame-ancestors 'none'; form-action 'self'; base-uri 'none'")


def _age(when: datetime | None) -> str:
    if when is None:
        return ""
    seconds = (datetime.now(UTC) - when.astimezone(UTC)).total_seconds()
    future = seconds < 0
    seconds = abs(seconds)
    for size, unit in ((86400, "d"), (3600, "h"), (60, "min")):
        if seconds >= size:
            text = f"{int(seconds // size)} {unit}"
            break
    else:
        text = f"{int(seconds)} s"
    return f"in {text}" if future else f"{text} ago"


def _when(when: datetime | None) -> str:
    return when.astimezone().strftime("%Y-%m-%d %H:%M:%S") if when else ""


def _env() -> Environment:
    env = Environment(loader=PackageLoader("acflow.ui", "templates"), autoescape=select_autoescape(["html"]),
                      trim_blocks=True, lstrip_blocks=True)
    env.filters.update(age=_age, when=_when, redact=editor.redact_text, urlquote=lambda s: urlquote(str(s), safe=""))
    return env


def what_to_do(error: str) -> str:
    """The next step for a failed run's error, in a sentence."""
    text = error.lower()
    if "refused the api key" in text or "403" in text:
        return ("ActiveCampaign refused the key: put the key from Settings > Developer into the environment "
                "variable the account's key_env names, restart the service, then Run now.")
    if "environment variable" in text and "not set" in text:
        return "Set the environment variable the message names where the service runs, restart it, then Run now."
    if "did not sync" in text or "429" in text or "timed out" in text or "connect" in text:
        return ("Reading ActiveCampaign failed: check the account's URL and your network, then Run now; "
                "what was synced before is kept in the mirror.")
    if "acflow.yaml" in text or ".yaml:" in text:
        return "The flow's definition is wrong: Edit it (the message names the line), then Run now."
    return ("The destination could not be written; its previous contents are intact. Fix what the message names "
            "(a path, a table, a permission), then Run now: the mirror is kept, nothing is downloaded twice.")


class UI:
    """The pages over one Service; `routes()` are what the service's app mounts."""

    def __init__(self, service: Service) -> None:
        self.service = service
        self.env = _env()
        self.sessions = auth.Sessions()
        self.passwords = auth.PasswordFile(Path(getattr(service, "state_dir", None)
                                                or service.config().mirror_path().parent))
        auth.first_start(self.passwords)
        self.static = Path(__file__).with_name("static")
        folders = {f"{service.config_path.parent}/", f"{service.config_path.parent.resolve()}/"}

        def relative(text: object) -> str:
            """Paths under acflow.yaml's folder as the file writes them (out/deals.csv)."""
            out = str(text)
            for folder in sorted(folders, key=len, reverse=True):
                out = out.replace(folder, "") if folder != "./" else out
            return out

        self.env.filters["rel"] = relative

    # -- plumbing

    def session(self, request: Request) -> auth.Session | None:
        return self.sessions.get(request.cookies.get(auth.COOKIE))

    def render(self, request: Request, template: str, status: int = 200, **context: Any) -> HTMLResponse:
        session = self.session(request)
        html = self.env.get_template(template).render(
            request=request, csrf=session.csrf if session else "", logged_in=session is not None,
            config_name=self.service.config_path.name, **context)
        return HTMLResponse(html, status, headers=_headers())

    def guard(self, request: Request, *, post: bool = False) -> tuple[auth.Session | None, Response | None]:
        """The session, or the answer to a browser that is not logged in / a POST without its CSRF token."""
        session = self.session(request)
        if session is None:
            if post or request.headers.get("hx-request"):
                return None, PlainTextResponse("Log in first.", 401, headers=_headers())
            target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            return None, RedirectResponse(f"/login?next={urlquote(target, safe='')}", 303)
        return session, None

    async def posted(self, request: Request) -> tuple[Any, Response | None]:
        session, denied = self.guard(request, post=True)
        if denied is not None:
            return None, denied
        assert session is not None
        origin = request.headers.get("origin")
        if origin and origin != f"{request.url.scheme}://{request.url.netloc}":
            return None, PlainTextResponse("Refused: the request came from another site.", 403, headers=_headers())
        data = await request.form()
        token = request.headers.get("x-csrf-token") or str(data.get("csrf") or "")
        if not auth.csrf_ok(session, token):
            return None, PlainTextResponse("Refused: the form's security token is missing or old. Reload the page "
                                           "and try again.", 403, headers=_headers())
        return data, None

    def routes(self) -> list[BaseRoute]:
        return [
            Route("/", self.home),
            Route("/login", self.login, methods=["GET", "POST"]),
            Route("/logout", self.logout, methods=["POST"]),
            Route("/ui/password", self.password, methods=["GET", "POST"]),
            Route("/ui/flows/{name}", self.flow),
            Route("/ui/flows/{name}/preview", self.preview),
            Route("/ui/flows/{name}/run", self.run_now, methods=["POST"]),
            Route("/ui/flows/{name}/rotate", self.rotate, methods=["POST"]),
            Route("/ui/flows/{name}/edit", self.edit),
            Route("/ui/new", self.new),
            Route("/ui/editor", self.editor_post, methods=["POST"]),
            Route("/ui/runs", self.runs),
            Route("/ui/runs/{run_id}", self.run_page),
            Route("/ui/runs/{run_id}/status", self.run_status),
            Route("/ui/pygments.css", self.pygments_css),
            Route("/ui/report", self.report),
            Mount("/ui/static", app=StaticFiles(directory=self.static), name="static"),
        ]

    # -- login

    async def login(self, request: Request) -> Response:
        target = request.query_params.get("next") or "/"
        if not target.startswith("/") or target.startswith("//"):
            target = "/"
        if request.method == "GET":
            return self.render(request, "login.html", target=target, error=None,
                               has_password=self.passwords.exists())
        data = await request.form()
        client = request.client.host if request.client else "?"
        if self.sessions.blocked(client):
            return self.render(request, "login.html", 429, target=target, has_password=self.passwords.exists(),
                               error="Too many wrong attempts from this address: wait five minutes.")
        given = str(data.get("secret") or "")
        ok = bool(given) and await run_in_threadpool(self._accepts, given)
        if not ok:
            self.sessions.failed(client)
            return self.render(request, "login.html", 401, target=target, has_password=self.passwords.exists(),
                               error="That is neither the UI password nor the service token.")
        self.sessions.succeeded(client)
        old = request.cookies.get(auth.COOKIE)
        self.sessions.end(old)
        session = self.sessions.new()
        response = RedirectResponse(target, 303)
        response.set_cookie(auth.COOKIE, session.sid, max_age=auth.SESSION_SECONDS, httponly=True,
                            samesite="strict", secure=request.url.scheme == "https", path="/")
        return response

    def _accepts(self, given: str) -> bool:
        from ..service.tokens import SERVICE

        tokens = getattr(self.service, "tokens", None)
        by_token = bool(tokens is not None and tokens.check(SERVICE, given))
        return self.passwords.check(given) or by_token

    async def logout(self, request: Request) -> Response:
        _, denied = await self.posted(request)
        if denied is not None:
            return denied
        self.sessions.end(request.cookies.get(auth.COOKIE))
        response = RedirectResponse("/login", 303)
        response.delete_cookie(auth.COOKIE, path="/")
        return response

    async def password(self, request: Request) -> Response:
        if request.method == "GET":
            _, denied = self.guard(request)
            if denied is not None:
                return denied
            return self.render(request, "password.html", error=None, done=False)
        data, denied = await self.posted(request)
        if denied is not None:
            return denied
        new, again = str(data.get("new") or ""), str(data.get("again") or "")
        if new != again:
            return self.render(request, "password.html", 400, error="The two passwords differ.", done=False)
        try:
            await run_in_threadpool(self.passwords.set, new)
        except ConfigError as exc:
            return self.render(request, "password.html", 400, error=str(exc).capitalize() + ".", done=False)
        self.sessions.end_all()
        return RedirectResponse("/login", 303)

    # -- pages

    async def home(self, request: Request) -> Response:
        _, denied = self.guard(request)
        if denied is not None:
            return denied
        flows, health, broken = await run_in_threadpool(self._home_data)
        return self.render(request, "home.html", flows=flows, health=health, broken=broken)

    def _home_data(self) -> tuple[list[Any], list[dict[str, Any]], list[str]]:
        broken = self._broken_file()
        flows = self.service.flows()
        failed = [f for f in flows if f.error or (f.last and f.last.status == "failed")]
        rest = [f for f in flows if f not in failed]
        return failed + rest, self.service.accounts_health(), broken

    def _broken_file(self) -> list[str]:
        """acflow.yaml's errors when it was edited into a broken state (the last good one is in use)."""
        from ..config import load

        try:
            load(self.service.config_path)
        except ConfigError as exc:
            return getattr(exc, "errors", None) or [str(exc)]
        return []

    def _state(self, name: str) -> Any:
        return next((f for f in self.service.flows() if f.name == name), None)

    async def flow(self, request: Request) -> Response:
        _, denied = self.guard(request)
        if denied is not None:
            return denied
        name = request.path_params["name"]
        state = await run_in_threadpool(self._state, name)
        if state is None:
            return self.render(request, "missing.html", 404, what=f"flow {name!r}")
        runs = await run_in_threadpool(self.service.runs, name, None, 20)
        text = self.service.config_path.read_text(encoding="utf-8-sig")
        try:
            block = editor.redact_text(editor.flow_lines(text, name))
        except editor.EditError:
            block = ""
        failed = next((r for r in runs if r.status == "failed"), None) if runs and runs[0].status == "failed" else None
        return self.render(request, "flow.html", flow=state, runs=runs, yaml_html=_highlight(block),
                           failed=failed, hint=what_to_do(failed.error or "") if failed else "",
                           urls=self.service.data_urls(name, None) if state.serve else {}, new_urls=None,
                           saved=request.query_params.get("saved"))

    async def preview(self, request: Request) -> Response:
        _, denied = self.guard(request)
        if denied is not None:
            return denied
        name = request.path_params["name"]
        try:
            cols, rows, note = await run_in_threadpool(self._preview, self.service.config(), name)
        except AcflowError as exc:
            return self.render(request, "_preview.html", error=editor.redact_text(str(exc)), columns=[], rows=[],
                               note="")
        return self.render(request, "_preview.html", error=None, columns=cols, rows=rows, note=note)

    def _preview(self, cfg: Any, name: str) -> tuple[list[tuple[str, str]], list[tuple[Any, ...]], str]:
        """The flow's first rows over the service's mirror (in its run host); an entity the mirror lacks
        is synced first."""
        from ..flows import validate
        from ..service import hosted

        validate(cfg, [name], mirror=self.service.mirror_path)
        given = self.service.accounts() if hasattr(self.service, "accounts") else {}
        accounts = {a: given.get(a) or cfg.account(a) for a in {a for a in cfg.account_names(name)}}
        return self.service.host.call(hosted.preview, cfg, name, accounts)

    async def run_now(self, request: Request) -> Response:
        _, denied = await self.posted(request)
        if denied is not None:
            return denied
        name = request.path_params["name"]
        try:
            record = await run_in_threadpool(self.service.trigger, name, "manual")
        except AcflowError as exc:
            return self.render(request, "_run_status.html", 400, run=None, error=str(exc), progress={})
        if not request.headers.get("hx-request"):
            return RedirectResponse(f"/ui/runs/{record.run_id}", 303)
        return self.render(request, "_run_status.html", run=record, error=None,
                           progress=self.service.progress(record.run_id))

    async def run_status(self, request: Request) -> Response:
        _, denied = self.guard(request)
        if denied is not None:
            return denied
        record = await run_in_threadpool(self.service.get_run, request.path_params["run_id"])
        if record is None:
            return PlainTextResponse("No such run.", 404)
        return self.render(request, "_run_status.html", run=record, error=None,
                           progress=self.service.progress(record.run_id))

    async def rotate(self, request: Request) -> Response:
        _, denied = await self.posted(request)
        if denied is not None:
            return denied
        name = request.path_params["name"]
        try:
            token = await run_in_threadpool(self.service.rotate_token, name)
        except AcflowError as exc:
            return PlainTextResponse(str(exc), 400)
        base = f"{request.url.scheme}://{request.url.netloc}"
        urls = {fmt: base + url for fmt, url in self.service.data_urls(name, token).items()}
        return self.render(request, "_urls.html", flow_name=name, urls=urls, new_urls=True)

    async def runs(self, request: Request) -> Response:
        _, denied = self.guard(request)
        if denied is not None:
            return denied
        flow = request.query_params.get("flow") or None
        status = request.query_params.get("status") or None
        records = await run_in_threadpool(self.service.runs, flow, status, 200)
        names = list(self.service.config().flows)
        return self.render(request, "runs.html", runs=records, flow_filter=flow or "", status_filter=status or "",
                           names=names, statuses=STATUSES)

    async def run_page(self, request: Request) -> Response:
        _, denied = self.guard(request)
        if denied is not None:
            return denied
        record = await run_in_threadpool(self.service.get_run, request.path_params["run_id"])
        if record is None:
            return self.render(request, "missing.html", 404, what="that run")
        return self.render(request, "run.html", run=record, hint=what_to_do(record.error) if record.error else "",
                           progress=self.service.progress(record.run_id))

    async def report(self, request: Request) -> Response:
        """acflow report's page, built from the mirror now (no request to ActiveCampaign)."""
        _, denied = self.guard(request)
        if denied is not None:
            return denied
        from ..errors import AcflowError
        from ..service.reports import page

        account = request.query_params.get("account") or None
        since = request.query_params.get("since") or "90d"
        try:
            made = await run_in_threadpool(page, self.service, account, since)
        except AcflowError as exc:
            return self.render(request, "report_error.html", 400, error=str(exc))
        # the page is self-contained: inline styles and SVG, no script, nothing fetched
        headers = {**_headers(), "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; "
                   "img-src data:; frame-ancestors 'none'; form-action 'self'"}
        return HTMLResponse(made, headers=headers)

    async def pygments_css(self, request: Request) -> Response:
        from pygments.formatters import HtmlFormatter

        css = HtmlFormatter(style="default").get_style_defs(".highlight")
        return Response(css, media_type="text/css", headers={"Cache-Control": "max-age=3600"})

    # -- the flow form

    async def new(self, request: Request) -> Response:
        _, denied = self.guard(request)
        if denied is not None:
            return denied
        text = self.service.config_path.read_text(encoding="utf-8-sig")
        cfg = self.service.config()
        accounts = list(cfg.spec.accounts)
        form = forms.Form(account=accounts[0] if accounts else "", entity=request.query_params.get("entity", ""))
        return await self._editor(request, form, text, is_new=True, checked=None)

    async def edit(self, request: Request) -> Response:
        _, denied = self.guard(request)
        if denied is not None:
            return denied
        name = request.path_params["name"]
        text = self.service.config_path.read_text(encoding="utf-8-sig")
        try:
            flow = editor.read_flows(text).get(name)
        except editor.EditError as exc:
            return self.render(request, "missing.html", 409, what=str(exc))
        if flow is None:
            return self.render(request, "missing.html", 404, what=f"flow {name!r}")
        return await self._editor(request, forms.Form.from_flow(name, flow), text, is_new=False, checked=None)

    async def _editor(self, request: Request, form: forms.Form, base_text: str, *, is_new: bool,
                      checked: forms.Checked | None, status: int = 200, **extra: Any) -> Response:
        from ..catalog import CATALOG, SEED_ENTITIES

        cfg = self.service.config()
        if checked is None and form.entity:
            checked = await run_in_threadpool(self._columns, form, base_text, is_new)
        offered = self._offered(form, checked)
        entity = CATALOG.get(form.entity)
        entities = list(SEED_ENTITIES) + sorted(n for n in CATALOG if n not in SEED_ENTITIES)
        from ..config import FlowSpec

        return self.render(
            request, "editor.html", status, form=form, is_new=is_new, base_hash=editor.file_hash(base_text),
            accounts=list(cfg.spec.accounts), entities=entities, lookups=sorted(entity.lookups) if entity else [],
            offered=offered, checked=checked, modes=forms.MODES, every_choices=forms.EVERY, days=forms.DAYS,
            has_schedule="schedule" in FlowSpec.model_fields, has_serve="serve" in FlowSpec.model_fields,
            flows=[n for n in cfg.flows], **extra)

    def _offered(self, form: forms.Form, checked: forms.Checked | None) -> list[tuple[str, str, bool]]:
        """(column, type, ticked), the selected ones first in their order."""
        cols = (checked.columns if checked and checked.columns else
                forms.fallback_columns(form.entity, form.lookups)) if form.entity else []
        types = dict(cols)
        ticked = set(form.columns) if not form.all_columns else set(types)
        order = [c for c in form.columns if c in types] if not form.all_columns else []
        order += [c for c, _ in cols if c not in order]
        return [(c, types.get(c, ""), c in ticked) for c in order]

    def _columns(self, form: forms.Form, base_text: str, is_new: bool) -> forms.Checked:
        """The draft's columns with every column selected (what the tick list offers), and its messages."""
        wide = forms.Form(**{**form.__dict__, "all_columns": True})
        name = form.name or "new_flow"
        checked = self._check(wide, base_text, is_new, name, fill_to=True)
        return checked

    def _draft(self, form: forms.Form, base_text: str, is_new: bool, name: str, *, fill_to: bool = False) -> str:
        flows = editor.read_flows(base_text)
        original = None if is_new else flows.get(name)
        values = form.values(original, list(self.service.config().spec.accounts))
        if fill_to and not values.get("to"):
            values["to"] = "out/preview.csv"  # checks the rest before a destination is chosen
        return editor.write_flow(base_text, name, values, new=is_new)

    def _check(self, form: forms.Form, base_text: str, is_new: bool, name: str, *,
               fill_to: bool = False) -> forms.Checked:
        try:
            text = self._draft(form, base_text, is_new, name, fill_to=fill_to)
        except editor.EditError as exc:
            return forms.Checked(general=[str(exc)])
        return forms.check(self.service.config_path, text, name, self.service.mirror_path)

    async def editor_post(self, request: Request) -> Response:
        data, denied = await self.posted(request)
        if denied is not None:
            return denied
        form = forms.Form.from_post(data)
        is_new = data.get("is_new") == "1"
        action = str(data.get("action") or "refresh")
        base_hash = str(data.get("base_hash") or "")
        current = self.service.config_path.read_text(encoding="utf-8-sig")
        changed = editor.file_hash(current) != base_hash
        name = form.name or ("" if is_new else str(data.get("name") or ""))
        if is_new and not name:
            checked = forms.Checked(by_field={"name": ["give the flow a name: letters, digits, _ or -"]})
            return await self._editor(request, form, current, is_new=True, checked=checked, status=400,
                                      conflict=False)
        if is_new and name in editor.read_flows(current):
            checked = forms.Checked(by_field={"name": [f"a flow named {name!r} already exists: choose another"]})
            return await self._editor(request, form, current, is_new=True, checked=checked, status=400,
                                      conflict=False)
        if action == "save" and changed:
            return await self._editor(request, form, current, is_new=is_new, checked=None, status=409, conflict=True)
        checked = await run_in_threadpool(self._check, form, current, is_new, name, fill_to=action != "save")
        if action == "refresh":
            columns = await run_in_threadpool(self._columns, form, current, is_new)
            return await self._editor(request, form, current, is_new=is_new, checked=columns, conflict=False)
        if action == "preview":
            preview: dict[str, Any] = {"columns": [], "rows": [], "error": None, "note": ""}
            if checked.ok:
                try:
                    text = self._draft(form, current, is_new, name, fill_to=True)
                    with forms.draft_file(self.service.config_path, text) as path:
                        from ..config import load

                        cfg = load(path)
                        cols, rows, note = await run_in_threadpool(self._preview, cfg, name)
                    preview.update(columns=cols, rows=rows, note=note)
                except AcflowError as exc:
                    preview["error"] = editor.redact_text(str(exc))
            else:
                preview["error"] = "Fix the messages below first."
            return await self._editor(request, form, current, is_new=is_new, checked=checked, preview=preview,
                                      conflict=False)
        if action == "validate" or not checked.ok:
            return await self._editor(request, form, current, is_new=is_new, checked=checked, validated=True,
                                      status=200 if action == "validate" else 400, conflict=False)
        text = self._draft(form, current, is_new, name)
        _write_atomic(self.service.config_path, text)
        errors = await run_in_threadpool(self.service.reload)
        if errors:
            return await self._editor(request, form, text, is_new=False, checked=forms.Checked(general=errors),
                                      status=400, conflict=False)
        return RedirectResponse(f"/ui/flows/{urlquote(name, safe='')}?saved=1", 303)


def _write_atomic(path: Path, text: str) -> None:
    """acflow.yaml replaced in one step (a crash leaves the old or the new file), its mode kept."""
    mode = path.stat().st_mode & 0o777 if path.exists() else 0o644
    fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.chmod(temp, mode)
        os.replace(temp, path)
    except BaseException:
        if os.path.exists(temp):
            os.unlink(temp)
        raise


def _highlight(text: str) -> str:
    from markupsafe import Markup
    from pygments import highlight
    from pygments.formatters import HtmlFormatter
    from pygments.lexers import YamlLexer

    return Markup(highlight(text, YamlLexer(), HtmlFormatter(style="default")))


def _headers() -> dict[str, str]:
    return {"Content-Security-Policy": _CSP, "X-Frame-Options": "DENY", "Referrer-Policy": "same-origin",
            "X-Content-Type-Options": "nosniff", "Cache-Control": "no-store"}


def routes(service: Service) -> list[BaseRoute]:
    """The UI's routes, for the service's app (after its API routes)."""
    return UI(service).routes()
