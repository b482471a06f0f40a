"""Policy decisions by OPA on every governed MCP request: the engine (managed or external OPA,
the bundle Giru serves it, the input document), and redaction of results (docs/policies/)."""

from giru.errors import PolicyUnavailableError
from giru.policy.engine import Decision, PolicyEngine, find_opa
from giru.policy.inputs import Call
from giru.policy.redact import redact_result

__all__ = [
    "Call",
    "Decision",
    "PolicyEngine",
    "PolicyUnavailableError",
    "find_opa",
    "redact_result",
]
