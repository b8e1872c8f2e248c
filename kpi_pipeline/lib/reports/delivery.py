"""Report pages delivered where people read them: an email per page, and a Slack line.

After a report run, each of the period's pages goes to the recipients the delivery file
names for it (``delivery.example.yaml`` shows the shape): an HTML email whose body
carries the page's headline numbers, formatted by each KPI's catalogue unit, with the
page attached, and a PDF of it printed by headless Chromium where one is installed
(``pdf: true``; a page that cannot be printed is sent without it). The text that reaches
a mail client is built here from the project's own words and numbers; the page itself
goes as an attachment, never as the body, so no platform caption is rendered by a mail
client.

Sending goes through ``smtplib`` and retries a refused or dropped connection a few
times with a growing wait (tenacity); what still fails is raised for the caller (the
delivery sensor), which tries again on a later tick and never stops the pipeline.
"""

from __future__ import annotations

import html
import shutil
import smtplib
import subprocess
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formataddr, make_msgid
from pathlib import Path
from typing import Annotated

import yaml
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError
from tenacity import Retrying, retry_if_exception_type, stop_after_attempt, wait_exponential

from kpi_pipeline.lib.core.package_data import data_file
from kpi_pipeline.lib.core.yaml_files import load_yaml_file
from kpi_pipeline.lib.kpis.catalog import Kpi
from kpi_pipeline.lib.reports.formats import kpi_value

EXAMPLE_PLAN = data_file("delivery.example.yaml")
SEND_ATTEMPTS = 3
PDF_SECONDS = 60
CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


# An address as a mail server takes it: something@host.tld, no spaces or angle brackets
# (display names are the sender's business, not the delivery file's).
Address = Annotated[str, StringConstraints(strip_whitespace=True,
                                           pattern=r"^[^@\s<>,]+@[^@\s<>,]+\.[^@\s<>,]+$")]


class DeliveryError(ValueError):
    """The delivery file cannot be used: names the file and what is wrong."""


class DeliveryPlan(BaseModel):
    """Who receives which page. ``pages`` maps a page name (``weekly_review``,
    ``goal_scorecard``...) to its recipients; ``everyone`` receives every page."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    sender: Address = Field(alias="from")
    everyone: tuple[Address, ...] = ()
    pages: dict[str, tuple[Address, ...]] = Field(default_factory=dict)
    slack: bool = False
    pdf: bool = True

    def recipients(self, page: str) -> tuple[str, ...]:
        """Everyone's addresses, then the page's own, each once."""
        return tuple(dict.fromkeys([*self.everyone, *self.pages.get(page, ())]))


def load_plan(path: Path | str) -> DeliveryPlan:
    """Read and validate a delivery file; problems name the file and the field."""
    try:
        return DeliveryPlan.model_validate(load_yaml_file(path))
    except ValidationError as exc:
        problems = "; ".join(
            f"field '{'.'.join(str(p) for p in e['loc']) or '(file)'}': {e['msg']}"
            for e in exc.errors(include_url=False, include_input=False))
        raise DeliveryError(f"delivery file {path}: {problems}") from None
    except (OSError, yaml.YAMLError) as exc:
        raise DeliveryError(f"delivery file {path}: {exc}") from None


@dataclass(frozen=True)
class PageDelivery:
    """One rendered page of one period, with the headline numbers to put in the body."""

    name: str
    title: str
    period_label: str
    path: Path
    headlines: tuple[tuple[Kpi, float], ...]
    # a partial report (asked for; the data covers the period only partly): the reader
    # of an email must not take its totals for the whole period's
    partial: bool = False

    @property
    def subject(self) -> str:
        return f"{self.title}: {self.period_label}" + (" (partial report)" if self.partial
                                                        else "")

    def headline_lines(self, currency: str) -> list[str]:
        return [f"{kpi.label}: {kpi_value(value, kpi, currency)}"
                for kpi, value in self.headlines]


def find_chromium() -> str | None:
    """The headless browser that prints PDFs, if this machine has one."""
    return next((found for name in CHROMIUM_NAMES if (found := shutil.which(name))), None)


def print_pdf(page: Path, chromium: str | None) -> bytes | None:
    """The page printed to PDF by headless Chromium; None without a browser or when it
    fails (the email then goes without the PDF)."""
    if chromium is None:
        return None
    with tempfile.TemporaryDirectory() as scratch:
        out = Path(scratch) / "page.pdf"
        try:
            subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu",
                            f"--user-data-dir={scratch}/profile", "--no-pdf-header-footer",
                            f"--print-to-pdf={out}", page.resolve().as_uri()],
                           check=True, capture_output=True, timeout=PDF_SECONDS)
        except (OSError, subprocess.SubprocessError):
            return None
        data = out.read_bytes() if out.exists() else b""
        return data if data.startswith(b"%PDF") else None


def build_message(page: PageDelivery, sender: str, recipients: Sequence[str],
                  currency: str, pdf: bytes | None = None) -> EmailMessage:
    """The email of one page: a plain-text and an HTML body with the headline numbers,
    the page attached as HTML, and the PDF when there is one."""
    lines = page.headline_lines(currency)
    if page.partial:
        lines = ["Partial report: the data covers this period only partly, so its totals "
                 "are not the whole period's (the page says which days).", *lines]
    message = EmailMessage()
    message["Subject"] = page.subject
    message["From"] = formataddr(("kpi_pipeline reports", sender))
    message["To"] = ", ".join(recipients)
    message["Message-ID"] = make_msgid(domain=sender.split("@", 1)[-1])
    message.set_content("\n".join([page.subject, "", *lines, "",
                                   f"The page is attached ({page.path.name})."]))
    items = "".join(f"<li>{html.escape(line)}</li>" for line in lines)
    message.add_alternative(
        f"<html><body><h1>{html.escape(page.subject)}</h1>"
        f"<ul>{items}</ul><p>The page is attached ({html.escape(page.path.name)}).</p>"
        "</body></html>", subtype="html")
    message.add_attachment(page.path.read_bytes(), maintype="text", subtype="html",
                           filename=f"{page.name}.html")
    if pdf is not None:
        message.add_attachment(pdf, maintype="application", subtype="pdf",
                               filename=f"{page.name}.pdf")
    return message


@dataclass(frozen=True)
class SmtpServer:
    """Where mail goes: host and port, STARTTLS or not, and the login if any."""

    host: str
    port: int = 587
    starttls: bool = True
    user: str = ""
    password: str = ""
    timeout_seconds: float = 30.0

    def send(self, message: EmailMessage) -> None:
        """Send, retrying a refused or dropped connection; an answer the server gives
        (a refused recipient, a failed login) is not retried."""
        for attempt in Retrying(
                retry=retry_if_exception_type((ConnectionError, TimeoutError,
                                               smtplib.SMTPServerDisconnected)),
                stop=stop_after_attempt(SEND_ATTEMPTS),
                wait=wait_exponential(multiplier=0.5, max=5), reraise=True):
            with attempt, smtplib.SMTP(self.host, self.port,
                                       timeout=self.timeout_seconds) as smtp:
                if self.starttls:
                    smtp.starttls()
                if self.user:
                    smtp.login(self.user, self.password)
                smtp.send_message(message)


def slack_text(page: PageDelivery, currency: str, link: str) -> str:
    """The Slack line of one page: the subject, its headline numbers and the link."""
    return f"{page.subject}: " + "; ".join(page.headline_lines(currency)) + f" ({link})"


def headline_values(kpis: Mapping[str, Kpi], names: Sequence[str],
                    values: Mapping[str, float]) -> tuple[tuple[Kpi, float], ...]:
    """The page's headline KPIs that have a value, in the page's order."""
    return tuple((kpis[name], values[name]) for name in names if name in values)
