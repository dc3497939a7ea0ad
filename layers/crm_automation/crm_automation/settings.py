"""The one settings model. Every value comes from the environment (set by template.yaml, or by the local
emulation from the same template); nothing else reads os.environ."""

from __future__ import annotations

from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from crm_automation.domain.models import SatisfactionLevel
from crm_automation.labels import DEFAULT_LABELS, DEFAULT_SATISFACTION_SCALES

PACKAGE_DIR = Path(__file__).resolve().parent


class OwnerProfile(BaseModel):
    """How a salesperson appears in e-mails sent in their name."""

    name: str
    email: str | None = None


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

    # scale knobs
    contact_shards: int = Field(8, ge=1, le=64)
    deal_shards: int = Field(8, ge=1, le=64)
    timer_shards: int = Field(8, ge=1, le=64)

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
