package giru.decision_test

import data.giru.decision
import data.giru.test.fixtures as fx

# Bindings built the way Giru builds them: the shipped defaults (policies/<pack>/data.json)
# deep-merged with a Policy's spec.data.
_binding(packs, overrides) := fx.bindings(packs, object.union(fx.defaults, overrides))

_all := ["core", "hipaa", "pci_dss", "soc2", "gdpr"]

_charge(arguments) := fx.call({
	"mcp": {"server": "payments", "tool": {"name": "charge_card", "tags": ["pci"]}, "arguments": arguments},
	"context": {"user_role": "billing", "claims": {"lawful_basis": "contract"}},
})

test_pan_in_pci_tool_arguments_is_denied_with_req_3_4 if {
	result := decision.result with input as _charge({"card": "4111 1111 1111 1111", "amount": 1250})
		with data.giru.bindings as _binding(["core", "pci_dss"], {})
		with data.giru.revision as "rev-7"
	result.allow == false
	result.deny == [{
		"pack": "pci_dss",
		"control": "PCI DSS Req 3.4",
		"message": "Full PAN detected in argument 'card'; it must be masked or truncated (PCI DSS Req 3.4)",
	}]
	result.redact == [{"target": "result", "kind": "pan", "action": "mask"}]
	result.audit == {"cardholder_data": true, "controls": ["PCI DSS Req 10.2", "PCI DSS Req 3.4", "PCI DSS Req 7.1", "PCI DSS Req 8.3"]}
	result.alerts == []
	result.revision == "rev-7"
}

test_masked_card_in_pci_tool_is_allowed_and_results_masked if {
	result := decision.result with input as _charge({"card": "**** **** **** 1111", "amount": 1250})
		with data.giru.bindings as _binding(["core", "pci_dss"], {})
	result.allow == true
	result.deny == []
	result.redact == [{"target": "result", "kind": "pan", "action": "mask"}]
	result.revision == ""
}

test_packs_not_in_the_binding_do_not_apply if {
	decision.allow with input as _charge({"card": "4111 1111 1111 1111"}) with data.giru.bindings as _binding(["core"], {})
}

_records(count, fields) := fx.call({
	"mcp": {"server": "ehr", "tool": {"name": "get_patient_records", "tags": ["phi"]}, "arguments": {"record_count": count, "fields": fields}},
	"context": {"user_role": "nurse"},
})

test_phi_record_count_above_threshold_is_denied if {
	result := decision.result with input as _records(51, ["patient_id"]) with data.giru.bindings as _binding(["core", "hipaa"], {})
	result.allow == false
	result.deny == [{
		"pack": "hipaa",
		"control": "HIPAA 164.502(b)",
		"message": "Argument 'record_count' exceeds the clinical need threshold of 50 records for role 'nurse' (HIPAA 164.502(b) minimum necessary)",
	}]
}

test_phi_record_count_under_threshold_is_allowed if {
	result := decision.result with input as _records(10, ["patient_id", "vitals"]) with data.giru.bindings as _binding(["core", "hipaa"], {})
	result.allow == true
	result.audit == {
		"phi_access": true,
		"purpose_of_use": "treatment",
		"controls": ["HIPAA 164.312(a)", "HIPAA 164.312(b)", "HIPAA 164.312(e)(1)", "HIPAA 164.502(b)"],
	}
}

test_policy_data_overrides_the_default_threshold if {
	decision.allow with input as _records(51, ["patient_id"])
		with data.giru.bindings as _binding(["core", "hipaa"], {"hipaa": {"role_thresholds": {"nurse": 100}}})
}

test_field_not_permitted_for_the_role_is_denied if {
	decision.deny == [{
		"pack": "hipaa",
		"control": "HIPAA 164.502(b)",
		"message": "Field 'diagnosis' is not permitted for role 'nurse' (HIPAA 164.502(b) minimum necessary)",
	}] with input as _records(1, ["patient_id", "diagnosis"])
		with data.giru.bindings as _binding(["core", "hipaa"], {})
	not decision.allow with input as _records(1, ["patient_id", "diagnosis"]) with data.giru.bindings as _binding(["core", "hipaa"], {})
}

_export(mfa) := fx.call({
	"mcp": {"server": "warehouse", "tool": {"name": "export_customers", "tags": ["region:eu-west-1"], "sensitivity": "high"}},
	"context": {"mfa_verified": mfa, "claims": {"mfa_verified": mfa}},
})

test_high_sensitivity_tool_without_mfa_is_denied if {
	result := decision.result with input as _export(false) with data.giru.bindings as _binding(["core", "soc2"], {})
	result.allow == false
	result.deny == [{"pack": "soc2", "control": "SOC 2 CC6.1", "message": "MFA is required for high-sensitivity tool 'export_customers' (SOC 2 CC6.1)"}]
	result.audit == {
		"event_type": "mcp_tool_access",
		"sensitivity": "high",
		"authenticated": true,
		"mfa_verified": false,
		"controls": ["SOC 2 CC6.1", "SOC 2 CC6.6", "SOC 2 CC7.2"],
	}
}

test_high_sensitivity_tool_with_mfa_is_allowed if {
	decision.allow with input as _export(true) with data.giru.bindings as _binding(["core", "soc2"], {})
}

test_all_packs_sort_reasons_by_pack_then_control if {
	result := decision.result with input as fx.call({
		"mcp": {"tool": {"name": "get_patient", "tags": ["phi", "pci"], "sensitivity": "high"}, "arguments": {"card": "4111111111111111", "to": "jane@example.com"}},
		"context": {"user_id": "", "mfa_verified": false},
		"request": {"tls": false},
	})
		with data.giru.bindings as _binding(_all, {"core": {"denied_tags": ["pci"]}})
	[[r.pack, r.control] | some r in result.deny] == [
		["core", "core.denied_tags"],
		["gdpr", "GDPR Art. 6"],
		["hipaa", "HIPAA 164.312(a)(2)(i)"],
		["hipaa", "HIPAA 164.312(e)(1)"],
		["pci_dss", "PCI DSS Req 3.4"],
		["pci_dss", "PCI DSS Req 4.1"],
		["pci_dss", "PCI DSS Req 8.3"],
		["soc2", "SOC 2 CC6.1"],
	]
}

test_alerts_and_redactions_are_merged_across_packs if {
	result := decision.result with input as fx.base
		with data.giru.bindings as _binding(_all, {
			"core": {"pii": {"mask_results": true}},
			"gdpr": {"mask_results": true},
			"soc2": {"user_normal_hours": {"u-17": [9]}},
		})
	result.allow == true
	result.redact == [
		{"target": "result", "kind": "email", "action": "mask"},
		{"target": "result", "kind": "phone", "action": "mask"},
		{"target": "result", "kind": "ssn", "action": "mask"},
	]
	[a.control | some a in result.alerts] == ["SOC 2 CC7.3"]
}

test_unknown_binding_fails_closed if {
	result := decision.result with input as fx.call({"binding": "gone"}) with data.giru.bindings as _binding(_all, {})
	result.allow == false
	result.deny == [{"pack": "core", "control": "core.binding", "message": "No policy binding for this call; denied by default (fail closed)"}]
}

_listing := {
	"context": fx.base.context,
	"request": fx.base.request,
	"subscription": null,
	"tools": [
		{"key": "k1", "server": "ehr", "tool": {"name": "get_patient", "tags": ["phi"], "sensitivity": "low"}, "binding": "b"},
		{"key": "k2", "server": "vault", "virtual_server": "ops", "tool": {"name": "export", "tags": [], "sensitivity": "high"}, "binding": "b"},
		{"key": "k3", "server": "files", "tool": {"name": "drop", "tags": [], "sensitivity": "low"}, "binding": "b"},
		{"key": "k4", "server": "ehr", "tool": {"name": "get_patient", "tags": ["phi"], "sensitivity": "low"}, "binding": "missing"},
	],
}

test_visible_lists_the_tools_a_call_could_be_allowed_for if {
	decision.visible == {"k1", "k2"} with input as _listing
		with data.giru.bindings as _binding(_all, {"core": {"denied_tools": ["drop"]}})
}

test_visible_hides_tools_denied_without_arguments if {
	decision.visible == {"k1"} with input as object.union(_listing, {"context": {"mfa_verified": false}})
		with data.giru.bindings as _binding(_all, {"core": {"denied_tools": ["drop"]}})
	decision.visible == {"k2"} with input as object.union(_listing, {"request": {"tls": false, "loopback": false}})
		with data.giru.bindings as _binding(_all, {"core": {"denied_tools": ["drop"]}})
}

test_rule_fallbacks_decide_like_the_shipped_defaults if {
	calls := [
		_charge({"card": "4111 1111 1111 1111"}),
		_export(false),
		fx.call({"mcp": {"tool": {"name": "rotate", "tags": ["key_management", "erasure", "region:us"]}}}),
		fx.call({"mcp": {"tool": {"tags": ["phi"]}}, "request": {"tls": false, "loopback": true}}),
	]
	every call in calls {
		with_defaults := decision.result with input as call with data.giru.bindings as _binding(_all, {})
		with_defaults == decision.result with input as call with data.giru.bindings as fx.bindings(_all, {})
	}
}

_topics := [
	["core", "arguments"], ["core", "pii"], ["core", "tool_access"],
	["gdpr", "personal_data"], ["gdpr", "residency"],
	["hipaa", "access_controls"], ["hipaa", "minimum_necessary"], ["hipaa", "phi"],
	["hipaa", "transmission_security"],
	["pci_dss", "access_control"], ["pci_dss", "authentication"], ["pci_dss", "cardholder_data"],
	["soc2", "access_control"], ["soc2", "monitoring"],
]

test_tool_names_collect_what_every_topic_compares_names_with if {
	names := decision.tool_names_by_binding with input as {"bindings": ["b"], "topics": _topics}
		with data.giru.bindings as _binding(_all, {
			"core": {"denied_tools": ["drop", "files/rm"]},
			"hipaa": {"tool_role_requirements": {"chart": ["physician"]}},
			"pci_dss": {"tool_job_requirements": {"refund": "billing"}},
		})
	names == {"b": {"exact": {"drop", "files/rm", "chart", "refund"}, "substrings": {"patient", "medical"}, "server": false}}
}

test_tool_names_keep_the_server_when_a_topic_does_not_say_it_reads_it_only_in_names if {
	names := decision.tool_names with input as {"binding": "b", "topics": [["core", "tool_access"], ["core", "custom"]]}
		with data.giru.bindings as _binding(["core"], {})
		with data.giru.packs.core.custom.tool_names as {"exact": ["x"]}
	names == {"exact": {"x"}, "substrings": set(), "server": true}
}

test_tool_names_read_the_subscription_limits_by_tool if {
	names := decision.tool_names with input as {
		"binding": "b",
		"topics": [["core", "arguments"]],
		"subscription": {"constraints": {"tools": {"big": {"maxArgumentsBytes": 10}}}},
	}
		with data.giru.bindings as _binding(["core"], {})
	names == {"exact": {"big"}, "substrings": set(), "server": false}
}

test_tool_names_are_undefined_when_a_topic_declares_nothing if {
	not decision.tool_names with input as {"binding": "b", "topics": [["core", "tool_access"], ["core", "custom"]]}
		with data.giru.bindings as _binding(["core"], {})
	decision.tool_names_by_binding == {} with input as {"bindings": ["b"], "topics": [["core", "custom"]]}
		with data.giru.bindings as _binding(["core"], {})
}

_fast(call, settings) := answer if {
	answer := decision.fast with input as object.union(call, {"topics": _topics})
		with data.giru.bindings as _binding(_all, settings)
}

test_fast_plan_of_a_plain_tool_needs_only_the_byte_limit_and_pii_for_gdpr if {
	answer := _fast(fx.base, {})
	answer.plan == {"bytes_at_most": 1048576, "pii_free": false, "findings_free": true, "absent": set(), "reads": set(), "clock": false}
	answer.result == decision.result with input as fx.base with data.giru.bindings as _binding(_all, {})
}

test_fast_plan_of_phi_and_card_tools_names_arguments_and_the_clock if {
	person := fx.call({
		"mcp": {"tool": {"name": "charge_patient", "tags": ["pci"]}},
		"subject": {"amr": ["otp"], "auth_time": 1764115000},
	})
	plan := _fast(person, {"hipaa": {"access_hours": {"nurse": {"start": 8, "end": 18}}}}).plan
	plan == {"bytes_at_most": 1048576, "pii_free": false, "findings_free": true, "absent": set(), "reads": {"record_count", "fields"}, "clock": true}
	not _fast(fx.call({"mcp": {"tool": {"tags": ["phi"]}}}), {}).plan.clock
}

test_fast_plan_reads_the_clock_for_certifications_and_normal_hours if {
	_fast(fx.base, {"soc2": {"user_certifications": {"u-17": {"last_certified": "2025-11-01T00:00:00Z"}}}}).plan.clock
	_fast(fx.base, {"soc2": {"user_normal_hours": {"u-17": [9]}}}).plan.clock
}

test_fast_plan_is_null_when_a_topic_declares_nothing_or_the_limit_is_no_number if {
	decision.fast.plan == null with input as object.union(fx.base, {"topics": [["core", "custom"]]})
		with data.giru.bindings as _binding(["core"], {})
	_fast(fx.base, {"core": {"max_arguments_bytes": "big"}}).plan == null
	plan := decision.fast.plan with input as object.union(fx.base, {"topics": [["core", "pii"]]})
		with data.giru.bindings as _binding(["core"], {})
	plan.bytes_at_most == null
}

test_a_destructive_tool_is_allowed_and_held_for_approval_by_core if {
	result := decision.result with input as fx.tool("wipe", ["destructive"], {})
		with data.giru.bindings as _binding(["core"], {})
	result.allow == true
	result.approve == [{
		"pack": "core",
		"control": "core.approval_tags",
		"message": "Tool 'wipe' is tagged 'destructive': a person approves each call (core.approval_tags)",
	}]
}

test_an_untagged_tool_is_not_held if {
	result := decision.result with input as fx.tool("read", ["files"], {}) with data.giru.bindings as _binding(["core"], {})
	result.approve == []
}
