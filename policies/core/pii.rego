# Core PII filter: mask personal data in tool results when core.pii.mask_results is set.
# Control: NIST SP 800-122 (confidentiality of PII) / SP 800-53 SI-15 (output filtering).
package giru.packs.core.pii

import data.giru.lib.binding

# NIST SP 800-53 SI-15 information output filtering: mask the configured PII kinds
# (core.pii.kinds, default ssn and email) in results.
redact contains {"target": "result", "kind": kind, "action": "mask"} if {
	binding.setting_at("core", ["pii", "mask_results"], false) == true
	some kind in binding.setting_at("core", ["pii", "kinds"], ["ssn", "email"])
	kind in {"pan", "ssn", "email", "phone"}
}

# This topic's rules read neither the tool's name nor its server (see giru.decision.tool_names).
tool_names := {"server": false}

# How the arguments and the clock change this topic's contributions (see giru.decision.fast_plan).
arguments_guard := {}
