"""Poisoning checks on tool definitions: rules as data (`rules.yaml`), findings with a severity.

`scan(server, tools)` returns the findings for one server's tools; a finding of severity
`medium` or `high` flags a definition for review (`flagged`), `high` blocks automatic approval.
"""

from giru.trust.findings.pack import Limits, Rule, RulePack, Severity, default_pack
from giru.trust.findings.scanner import SEVERITY_RANK, Finding, Scanner, flagged, scan, worst

__all__ = [
    "SEVERITY_RANK",
    "Finding",
    "Limits",
    "Rule",
    "RulePack",
    "Scanner",
    "Severity",
    "default_pack",
    "flagged",
    "scan",
    "worst",
]
