"""One Logger, Tracer and Metrics for every function. Service name and metric namespace come from the settings
model (POWERTOOLS_SERVICE_NAME / POWERTOOLS_METRICS_NAMESPACE in template.yaml), with defaults, so metrics are
never dropped for want of a namespace."""

from aws_lambda_powertools import Logger, Metrics, Tracer

from crm_automation.settings import get_settings

_settings = get_settings()
logger = Logger(service=_settings.powertools_service_name)
tracer = Tracer(service=_settings.powertools_service_name)
metrics = Metrics(namespace=_settings.powertools_metrics_namespace, service=_settings.powertools_service_name)
