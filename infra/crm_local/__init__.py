"""Local AWS emulation of the CRM automation: the SAM template on a moto server, functions in-process.

See :class:`crm_local.cloud.LocalCloud` (example in its module docstring) and ``python -m crm_local --help``.
"""

from crm_local.cloud import DEFAULT_TOKEN, Firing, LocalCloud, ScheduleTrigger, SettleError
from crm_local.http import HttpResponse
from crm_local.runtime import Invocation, LambdaContext
from crm_local.schedules import ScheduleExpressionError, parse_duration
from crm_local.template import TemplateError, load_template

__all__ = [
    "DEFAULT_TOKEN",
    "Firing",
    "HttpResponse",
    "Invocation",
    "LambdaContext",
    "LocalCloud",
    "ScheduleExpressionError",
    "ScheduleTrigger",
    "SettleError",
    "TemplateError",
    "load_template",
    "parse_duration",
]
