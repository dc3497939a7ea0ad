"""Wiring: the adapters one Lambda container (or the local emulation) uses, built once and reused."""

from __future__ import annotations

from functools import cached_property

from crm_automation.adapters.dynamodb import Store
from crm_automation.adapters.eventbridge import Bus
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
