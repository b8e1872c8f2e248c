"""Notifiers: where alerts go besides the log.

Every alert is logged by the sensor that raised it, always. A notifier sends it on:
``LogNotifier`` (the default) sends nothing more; ``SlackNotifier`` posts it to a Slack
channel through Slack's Web API (``chat.postMessage``) with a bot token read from the
environment through ``dg.EnvVar``. Slack is switched on by setting
``KPI_PIPELINE_SLACK_CHANNEL`` (and ``KPI_PIPELINE_SLACK_TOKEN``); another destination
is a subclass with its own ``send``.
"""

import dagster as dg
from pydantic import Field

from kpi_pipeline.defs.settings import SLACK_CHANNEL, SLACK_TOKEN
from kpi_pipeline.lib.alerts import Alert

SLACK_CHANNEL_ENV = SLACK_CHANNEL.name
SLACK_TOKEN_ENV = SLACK_TOKEN.name


class Notifier(dg.ConfigurableResource):
    """Sends alerts somewhere; this base class sends them nowhere but the log."""

    def send(self, alert: Alert) -> None:
        """Deliver one alert; the sensor has logged it already."""


class LogNotifier(Notifier):
    """The default: alerts are logged by the sensors and go nowhere else."""


class SlackNotifier(Notifier):
    """Posts each alert to a Slack channel (Slack Web API, ``chat.postMessage``)."""

    token: str = Field(description="Bot token (xoxb-...); bind it with dg.EnvVar")
    channel: str = Field(description="Channel id or #name")
    api_url: str = Field(default="https://slack.com/api/",
                         description="Slack Web API base URL (tests point it at loopback)")
    timeout_seconds: int = 10

    def send(self, alert: Alert) -> None:
        from slack_sdk import WebClient  # imported when an alert is sent, not at load
        from slack_sdk.errors import SlackApiError

        client = WebClient(token=self.token, base_url=self.api_url,
                           timeout=self.timeout_seconds)
        try:
            client.chat_postMessage(channel=self.channel, text=str(alert))
        except SlackApiError as exc:
            # the error carries Slack's response, never the token
            raise RuntimeError(f"Slack refused the alert for {alert.subject}: "
                               f"{exc.response.get('error', 'unknown error')} (channel "
                               f"{self.channel}, token from ${SLACK_TOKEN_ENV})") from None


def configured_notifier() -> Notifier:
    """Slack when a channel is configured in the environment, else the log only.
    Called when the definitions load, so the token is never read unless Slack is on."""
    if SLACK_CHANNEL.is_set():
        return SlackNotifier(token=dg.EnvVar(SLACK_TOKEN_ENV),
                             channel=dg.EnvVar(SLACK_CHANNEL_ENV))
    return LogNotifier()
