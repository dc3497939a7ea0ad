"""The one settings model. Every value comes from the environment (set by template.yaml, or by the local
emulation from the same template); nothing else reads os.environ."""

from __future__ import annotations

import json
import re
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal

from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from crm_automation.domain.models import SatisfactionLevel
from crm_automation.domain.scoring import ScoringConfig
from crm_automation.labels import DEFAULT_LABELS, DEFAULT_SATISFACTION_SCALES

PACKAGE_DIR = Path(__file__).resolve().parent


class OwnerProfile(BaseModel):
    """How a salesperson appears in e-mails sent in their name."""

    name: str
    email: str | None = None


_HOST = re.compile(r"[a-z0-9](?:[a-z0-9.-]{0,251}[a-z0-9])?")  # a DNS name or an IPv4 address, nothing else


def _check_url(value: str | None) -> str | None:
    if value is None:
        return None
    parts = urlsplit(value)
    local = (parts.hostname or "") in ("localhost", "127.0.0.1")
    if parts.scheme not in ("https", "http") or not parts.hostname or (parts.scheme == "http" and not local):
        raise ValueError(f"{value!r}: an absolute https URL (http only for localhost)")
    return value


class FormConfig(BaseModel):
    """One public lead form, `LEAD_FORMS` JSON {form_id: {...}} (docs/leads.md#forms)."""

    model_config = ConfigDict(extra="forbid")
    source: str | None = Field(None, max_length=100, description='Lead source label; default "form:<form_id>"')
    owner: str | None = Field(None, description="Owner of new contacts; default DEFAULT_LEAD_OWNER")
    consent_text_version: str | None = Field(None, max_length=100, description="Version of the consent wording")
    redirect_url: str | None = Field(None, description="Thank-you page: HTML forms get a 303 to it")
    error_url: str | None = Field(None, description="HTML forms with invalid input get a 303 here (else a 422 page)")
    redirect_hosts: list[str] = Field(default_factory=list,
                                      description="Further hosts a submission's own `redirect` field may name")
    allowed_origins: list[str] = Field(default_factory=list,
                                       description='CORS origins ("*": any); others are refused; empty: no check')
    rate_per_minute: int = Field(120, ge=1, description="Submissions of this form per minute, all clients")
    rate_per_ip_per_minute: int = Field(10, ge=1, description="Submissions per client IP address per minute")
    honeypot_field: str = Field("website", min_length=1, max_length=50)
    tags: list[str] = Field(default_factory=list, description="Tags every contact from this form gets")

    _urls = field_validator("redirect_url", "error_url")(_check_url)

    def redirect_allowed(self, url: str) -> bool:
        """Only the configured pages' hosts and `redirect_hosts`, over https (http only for localhost). Refused
        outright: anything over 2,000 characters, non-ASCII, whitespace or control characters (header injection,
        characters browsers strip), a backslash (browsers read `\\` as `/`, so `https://evil.com\\@host/` goes to
        evil.com) and any userinfo; the authority must be exactly `host[:port]`."""
        if (len(url) > 2000 or not url.isascii() or "\\" in url
                or any(ord(ch) <= 32 or ord(ch) == 127 for ch in url)):
            return False
        try:
            _check_url(url)
            parts = urlsplit(url)
            port = parts.port  # a malformed port raises ValueError
        except ValueError:
            return False
        host = (parts.hostname or "").lower()
        if ("@" in parts.netloc or parts.username is not None or parts.password is not None
                or not _HOST.fullmatch(host)
                or parts.netloc.lower() != (host if port is None else f"{host}:{port}")):
            return False
        hosts = {*(h.lower() for h in self.redirect_hosts),
                 *((urlsplit(u).hostname or "").lower() for u in (self.redirect_url, self.error_url) if u)}
        return host in hosts


DEFAULT_LEAD_FORMS = {"kontakt": FormConfig(source="form:kontakt", consent_text_version="kontakt-marketing-2026-01",
                                            redirect_hosts=["www.example.cz"], allowed_origins=["*"])}


class Settings(BaseSettings):
    model_config = SettingsConfigDict(case_sensitive=False, extra="ignore", frozen=True)

    # observability
    powertools_service_name: str = "crm-automation"
    powertools_metrics_namespace: str = "CrmAutomation"

    # resources (names come from template.yaml)
    contacts_table: str = "contacts"
    deals_table: str = "deals"
    activities_table: str = "activities"
    tasks_table: str = "tasks"
    flows_table: str = "flows"
    idempotency_table: str = "idempotency"
    campaigns_table: str = "campaigns"
    addresses_table: str = "addresses"
    consents_table: str = "consents"  # the consent ledger (append-only)
    reports_table: str = "reports"  # report aggregates (running totals kept from the streams)
    campaign_plan_queue_url: str = ""
    campaign_send_queue_url: str = ""
    timer_queue_url: str = ""
    stream_failure_queue_url: str = ""
    event_bus_name: str = ""  # domain events (contact.escalated, task.created, ...) go to this EventBridge bus
    event_source: str = "crm-automation"

    # e-mail
    sender_email: str = "obchod@example.cz"
    sender_name: str = "Obchodní tým"
    sender_identity: str = "example.cz"  # the verified SES identity (a domain, or one address)
    ses_configuration_set: str | None = None
    templates_dir: Path = PACKAGE_DIR / "templates"
    signing_secret_arn: str = ""  # Secrets Manager secret: keys for address hashes and unsubscribe tokens
    signing_secret: str = Field("", repr=False)  # tests and tools only; deployments use signing_secret_arn
    public_base_url: str = ""  # where recipients reach the unsubscribe page; empty: read public_url_parameter
    public_url_parameter: str = ""  # SSM parameter holding the HTTP API's URL (written by the template)
    doi_link_days: int = Field(7, ge=1, le=90, description="Double opt-in: the confirmation link is valid this long")

    # campaigns
    ses_max_send_rate: float = Field(14, gt=0, description="SES account's maximum send rate (messages/second)")
    send_window: str = "mon-fri 08:00-18:00"  # when marketing e-mail may go (local time; never on holidays)
    marketing_weekly_cap: int = Field(3, ge=0, description="Marketing e-mails per address per 7 days (0 = no cap)")
    campaign_chunk_size: int = Field(100, ge=1, le=1000, description="Contacts scanned per planner page")
    campaign_scan_segments: int = Field(4, ge=1, le=64, description="Parallel scan segments per campaign")
    send_batch_size: int = Field(49, ge=1, le=49, description="Recipients reserved per transaction (2 items each)")
    send_reconcile_minutes: int = Field(15, ge=1, description="Wait for SES Send events before re-sending after a crash")
    sender_lease_seconds: int = Field(360, ge=30)

    # reports
    report_industry_field: str = Field("industry", min_length=1, max_length=100,
                                       description="The contact's company field a deal's industry is read from "
                                                   "(company_fields.<name>, else custom_fields.<name>)")
    report_attribution_days: int = Field(90, ge=1, le=730,
                                         description="A deal created this many days after a workflow enrolled its "
                                                     "contact counts as that workflow's new deal")

    # language and calendar
    locale: Literal["cs", "en"] = "cs"
    timezone: str = "Europe/Prague"
    holidays_country: str = "CZ"
    labels: dict[str, str] = Field(default_factory=dict, description="JSON overrides of DEFAULT_LABELS keys")

    # inactivity workflow
    inactivity_days: int = Field(180, ge=1)
    inactivity_task_due_days: int = Field(14, ge=1)
    inactivity_followup_days: int = Field(30, ge=1)
    vip_revenue_threshold: Decimal = Decimal("250000")
    currency: str = "CZK"

    # satisfaction and the escalation workflow
    satisfaction_scale: dict[str, SatisfactionLevel] = Field(
        default_factory=dict, description="JSON {value: level}; empty = the locale's default scale")
    team_leads: dict[str, str] = Field(default_factory=dict, description="JSON {owner: their sales team lead}")
    default_team_lead: str = "vedouci.obchodu"
    escalation_context_days: int = Field(90, ge=1, description="How far back the lead's task lists complaints")
    escalation_context_items: int = Field(10, ge=1, le=50)

    # dead-deal reactivation
    deal_stale_days: int = Field(90, ge=1, description="An open deal with no activity this long is due")
    deal_reactivation_wait_days: int = Field(14, ge=1)
    deal_reactivation_cooldown_days: int = Field(90, ge=0, description="No second enrolment of a deal sooner")
    owners: dict[str, OwnerProfile] = Field(
        default_factory=dict, description='JSON {login: {"name": ..., "email": ...}}: the owner in e-mails')

    # lead scoring and qualification (seed 004): JSON in LEAD_SCORING, merged into the defaults (docs/leads.md)
    lead_scoring: Annotated[ScoringConfig, NoDecode] = Field(default_factory=ScoringConfig)

    # lead capture: public forms and the chatbot webhook (docs/leads.md)
    lead_forms: dict[str, FormConfig] = Field(default_factory=lambda: dict(DEFAULT_LEAD_FORMS),
                                              description="JSON {form_id: FormConfig}")
    default_lead_owner: str = "vedouci.obchodu"  # owner of new leads when the form names none (and of chatbot leads)
    chatbot_secret_arn: str = ""  # Secrets Manager secret: the chatbot webhook's HMAC-SHA256 signing key
    chatbot_secret: str = Field("", repr=False)  # tests and tools only; deployments use chatbot_secret_arn
    chatbot_tolerance_seconds: int = Field(300, ge=1, description="Accepted age of a chatbot signature")

    # scale knobs
    contact_shards: int = Field(8, ge=1, le=64)
    deal_shards: int = Field(8, ge=1, le=64)
    timer_shards: int = Field(8, ge=1, le=64)

    @field_validator("lead_scoring", mode="before")
    @classmethod
    def _lead_scoring_json(cls, value: Any) -> Any:
        """LEAD_SCORING is a JSON object; empty means the defaults."""
        if isinstance(value, str):
            return json.loads(value) if value.strip() else {}
        return value

    def scale(self) -> dict[str, SatisfactionLevel]:
        return self.satisfaction_scale or DEFAULT_SATISFACTION_SCALES[self.locale]

    def owner_profile(self, login: str) -> OwnerProfile:
        return self.owners.get(login) or OwnerProfile(name=self.sender_name)

    def team_lead_of(self, owner: str) -> str:
        return self.team_leads.get(owner, self.default_team_lead)

    def label(self, key: str, **values: object) -> str:
        text = self.labels.get(key) or DEFAULT_LABELS[self.locale].get(key) or DEFAULT_LABELS["cs"][key]
        return text.format(**values) if values else text


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()


def reset_settings() -> None:
    """Forget the cached settings (tests and the local emulation change the environment)."""
    get_settings.cache_clear()
