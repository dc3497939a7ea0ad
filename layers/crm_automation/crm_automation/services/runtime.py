"""Wiring: the adapters one Lambda container (or the local emulation) uses, built once and reused."""

from __future__ import annotations

from functools import cached_property

from crm_automation.adapters.dynamodb import Store
from crm_automation.adapters.eventbridge import Bus
from crm_automation.adapters.secrets import Keys, parameter_value, secret_value
from crm_automation.adapters.ses import Mailer
from crm_automation.adapters.sqs import Queue
from crm_automation.clock import Clock, get_clock
from crm_automation.settings import Settings, get_settings


class Runtime:
    def __init__(self, settings: Settings | None = None, *, store: Store | None = None, mailer: Mailer | None = None,
                 timer_queue: Queue | None = None) -> None:
        self.settings = settings or get_settings()
        if store is not None:
            self.__dict__["store"] = store
        if mailer is not None:
            self.__dict__["mailer"] = mailer
        if timer_queue is not None:
            self.__dict__["timer_queue"] = timer_queue

    @property
    def clock(self) -> Clock:
        return get_clock()

    @cached_property
    def store(self) -> Store:
        return Store(self.settings)

    @cached_property
    def mailer(self) -> Mailer:
        return Mailer(self.settings.ses_configuration_set)

    @cached_property
    def timer_queue(self) -> Queue:
        return Queue(self.settings.timer_queue_url)

    @cached_property
    def stream_failures(self) -> Queue:
        """The on-failure queue of stream consumers, for records that can never succeed."""
        return Queue(self.settings.stream_failure_queue_url)

    @cached_property
    def bus(self) -> Bus:
        """The EventBridge bus domain events go to."""
        return Bus(self.settings.event_bus_name, self.settings.event_source)

    @cached_property
    def keys(self) -> Keys:
        """Address-hash and unsubscribe-token keys, derived from the deployment's signing secret."""
        if self.settings.signing_secret:
            return Keys.from_secret(self.settings.signing_secret)
        if not self.settings.signing_secret_arn:
            raise RuntimeError("no signing secret configured (SIGNING_SECRET_ARN)")
        return Keys.from_secret(secret_value(self.settings.signing_secret_arn))

    @property
    def public_base_url(self) -> str:
        """Where recipients reach the unsubscribe page (the HTTP API's URL, or a custom domain)."""
        if self.settings.public_base_url:
            return self.settings.public_base_url.rstrip("/")
        if not self.settings.public_url_parameter:
            raise RuntimeError("no public URL configured (PUBLIC_BASE_URL or PUBLIC_URL_PARAMETER)")
        return parameter_value(self.settings.public_url_parameter).rstrip("/")

    @cached_property
    def plan_queue(self) -> Queue:
        return Queue(self.settings.campaign_plan_queue_url)

    @cached_property
    def send_queue(self) -> Queue:
        return Queue(self.settings.campaign_send_queue_url)
