"""crm_automation: the shared code of the CRM marketing automation Lambdas (shipped as a Lambda layer).

- ``domain``: pure models and decisions (no AWS, no I/O).
- ``adapters``: the only modules that call boto3 (one per AWS service).
- ``services``: application services that load state through adapters, ask the domain, and write back.
- ``email``: rendering of Jinja2 templates into MIME messages.
"""
