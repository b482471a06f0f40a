# GDPR lawful processing (Art. 6), data minimisation in results (Art. 5(1)(c), Art. 25) and
# the right to erasure (Art. 17).
package giru.packs.gdpr.personal_data

import data.giru.lib.binding
import data.giru.lib.call
import data.giru.lib.pii

# The PII kinds this pack looks for (gdpr.pii_kinds, default email, phone, ssn).
kinds := binding.setting("gdpr", "pii_kinds", ["email", "phone", "ssn"])

# Personal data in the arguments: {"kind": k, "path": p}.
findings := {f | some f in pii.argument_findings; f.kind in kinds}

# The caller's lawful basis claim when it is one of gdpr.lawful_bases.
lawful_basis := basis if {
	basis := call.claim("lawful_basis")
	basis in binding.setting("gdpr", "lawful_bases", [
		"consent", "contract", "legal_obligation",
		"vital_interests", "public_task", "legitimate_interests",
	])
}

# GDPR Art. 6 lawfulness of processing: personal data in arguments needs a recognised
# lawful_basis claim.
deny contains {
	"control": "GDPR Art. 6",
	"message": sprintf("Personal data (%s) in argument '%s' requires a lawful basis (lawful_basis claim) (GDPR Art. 6)", [f.kind, call.safe_label(f.path)]),
} if {
	some f in findings
	not lawful_basis
}

# GDPR Art. 17 right to erasure: tools tagged erasure only for the roles in
# gdpr.erasure_roles.
deny contains {
	"control": "GDPR Art. 17",
	"message": sprintf("Role '%s' may not perform erasure with tool '%s' (GDPR Art. 17)", [call.role_label, call.tool]),
} if {
	"erasure" in call.tags
	not call.role in binding.setting("gdpr", "erasure_roles", ["dpo"])
}

# GDPR Art. 5(1)(c) data minimisation and Art. 25 data protection by design: mask the PII
# kinds in results while gdpr.mask_results (default false).
redact contains {"target": "result", "kind": kind, "action": "mask"} if {
	binding.setting("gdpr", "mask_results", false) == true
	some kind in kinds
	kind in {"pan", "ssn", "email", "phone"}
}

controls contains "GDPR Art. 6" if count(findings) > 0

audit := {
	"personal_data": sort({f.kind | some f in findings}),
	"lawful_basis": object.get(input, ["context", "claims", "lawful_basis"], null),
} if count(findings) > 0

# This topic's rules read neither the tool's name nor its server (see giru.decision.tool_names).
tool_names := {"server": false}

# How the arguments and the clock change this topic's contributions (see giru.decision.fast_plan).
# Its rules read the arguments only through pii.argument_findings.
arguments_guard := {"findings_free": true}
