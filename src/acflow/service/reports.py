"""The report (acflow report) from the service: a page of the web UI, and an e-mail on a schedule.

`report: {every: 1w, days: [mon], at: "07:00", to: [boss@example.com], since: 90d}` in acflow.yaml
mails the report of an account from the mirror as it is (the flows' runs keep it fresh): the
page attached as HTML, and a PNG of the headline figures inline, so the mail reads at a glance
in any mail client and the full page opens offline. The SMTP settings are the alerts' (alerts.email
or ACFLOW_SMTP_*), so they are written once.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from ..errors import AcflowError, ConfigError
from .schedule import Schedule

if TYPE_CHECKING:
    from .core import Service

log = logging.getLogger("acflow.service")
_SCHEDULE_KEYS = ("every", "days", "between", "at", "timezone", "cron")


class ReportSpec(BaseModel):
    """`report:` in acflow.yaml: when the service e-mails the report, to whom, over what period."""

    model_config = ConfigDict(extra="forbid")

    to: list[str] = Field(min_length=1)
    schedule: Schedule = None
    since: str = "90d"
    account: str | None = None  # an account of acflow.yaml; default: the first
    subject: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _schedule_inline(cls, value: Any) -> Any:
        """`report: {every: 1w, to: [...]}`: the schedule's keys may sit beside `to`."""
        if isinstance(value, dict) and any(k in value for k in _SCHEDULE_KEYS):
            if "schedule" in value:
                raise ValueError("write the schedule either as schedule: {...} or beside to:, not both")
            value = dict(value)
            value["schedule"] = {k: value.pop(k) for k in _SCHEDULE_KEYS if k in value}
        return value

    @field_validator("to", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value

    @field_validator("since")
    @classmethod
    def _period(cls, value: str) -> str:
        from ..report.window import parse_since

        try:
            parse_since(value, "UTC")
        except (ConfigError, ValueError) as exc:
            raise ValueError(str(exc)) from None
        return value

    @model_validator(mode="after")
    def _when(self) -> ReportSpec:
        if self.schedule is None or self.schedule.off:
            raise ValueError("say when to send it: every: 1w (with days: and at:), at: \"07:00\" or cron: ...")
        return self


def account_url(service: Service, name: str | None) -> str | None:
    """The account's API URL without needing its key (the report reads the mirror only)."""
    cfg = service.config()
    names = list(cfg.spec.accounts)
    if name is None:
        if not names:
            return None
        name = names[0]
    if name not in cfg.spec.accounts:
        raise ConfigError(f"no account named {name!r} in {service.config_path}; accounts: {', '.join(names)}")
    from ..account import normalize_url

    return normalize_url(cfg.account_url(name))


def page(service: Service, account: str | None, since: str) -> str:
    """The report's HTML, built from the mirror in the service's run host."""
    from . import hosted

    return service.host.call(hosted.report_page, account_url(service, account), since)


def send(service: Service) -> None:
    """The scheduled e-mail: the report built now, sent once (a failure is logged, never raised)."""
    from . import hosted
    from .mail import send_email, settings

    spec: ReportSpec | None = service.config().spec.report
    if spec is None:
        return
    try:
        made = service.host.call(hosted.report_mail, account_url(service, spec.account), spec.since)
        alerts = service.config().spec.alerts
        mail = settings(alerts.email if alerts is not None else None, require_to=False)
        when = made["generated_at"].strftime("%Y-%m-%d")
        subject = spec.subject or f"acflow report {when}: {made['account']}"
        link = f"\nThe page: {service.base_url}/ui/report\n" if service.base_url else "\n"
        text = (f"The ActiveCampaign report of {made['account']} for {made['since']} "
                f"(to {when}) is attached as report.html: it opens offline in any browser.{link}")
        html = (f"<p>The ActiveCampaign report of {made['account']} for {made['since']}, to {when}.</p>"
                "<p><img src=\"cid:summary\" alt=\"The headline figures\"></p>"
                "<p>The whole report is attached (report.html): it opens offline in any browser.</p>")
        said = send_email(mail, subject, text, html=html,
                          attachments=[(f"acflow-report-{when}.html", made["html"], "text/html")],
                          inline_images=[("summary", made["png"])], to=spec.to)
        log.info("report e-mailed to %s (%s)", ", ".join(spec.to), said)
    except (AcflowError, OSError) as exc:
        log.error("report not e-mailed: %s", exc)
    except Exception:  # a bug must not take the scheduler's thread down
        log.exception("report not e-mailed")
