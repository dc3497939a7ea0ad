"""``crm``: a command line for marketers to create, preview, launch and watch campaigns and to import suppressions.

- :mod:`crm_cli.client`: the HTTP API client (``urllib`` + bearer token locally, SigV4 for ``execute-api``).
- :mod:`crm_cli.suppressions`: reading a suppression CSV and sending it in batches.
- :mod:`crm_cli.i18n`: Czech/English wording (reason labels come from :mod:`crm_automation.labels`).
- :mod:`crm_cli.render`: rich tables, panels and progress descriptions (no I/O besides printing).
- :mod:`crm_cli.report_tables`: rich tables of the reports (``crm report loss-reasons|retention|workflows|campaigns``).
- :mod:`crm_cli.report_html`: the self-contained HTML report with inline SVG charts (``crm report html``; its Jinja2
  template is ``templates/report.html.j2``, shipped as package data).
- :mod:`crm_cli.app`: the typer commands, wiring the two together.
"""

from __future__ import annotations

__version__ = "0.1.0"
