"""Tool trust: what Giru checks and records about the tools upstream servers offer —
pinned tool definitions, drift held for approval (docs/tool-trust.md) and poisoning checks
(`giru.trust.findings`).

`Pinning` admits each fetched catalog on the data path; `reviews` serves administrators.
"""

from giru.trust.pinning import FIRST_USE, Checks, Pinning, no_findings
from giru.trust.plans import MAX_TOOLS, MODES, Finding, Mode
from giru.trust.reviews import Decided, Verdict, decide, review_items
from giru.trust.trail import TrustTrail

__all__ = [
    "FIRST_USE",
    "MAX_TOOLS",
    "MODES",
    "Checks",
    "Decided",
    "Finding",
    "Mode",
    "Pinning",
    "TrustTrail",
    "Verdict",
    "decide",
    "no_findings",
    "review_items",
]
