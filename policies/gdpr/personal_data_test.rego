package giru.packs.gdpr.personal_data_test

import data.giru.packs.gdpr.personal_data as pd
import data.giru.test.fixtures as fx

_gdpr := fx.bindings(["gdpr"], {})

_contact := {"to": "jane@example.com", "body": "call me at +44 20 7946 0958", "card": "4111111111111111"}

test_personal_data_without_lawful_basis_is_denied if {
	pd.deny == {
		{"control": "GDPR Art. 6", "message": "Personal data (email) in argument 'to' requires a lawful basis (lawful_basis claim) (GDPR Art. 6)"},
		{"control": "GDPR Art. 6", "message": "Personal data (phone) in argument 'body' requires a lawful basis (lawful_basis claim) (GDPR Art. 6)"},
	} with input as fx.tool("send", [], _contact)
		with data.giru.bindings as _gdpr
}

test_recognised_lawful_basis_allows_personal_data if {
	count(pd.deny) == 0 with input as fx.call({"mcp": {"arguments": _contact}, "context": {"claims": {"lawful_basis": "contract"}}})
		with data.giru.bindings as _gdpr
	pd.audit == {"personal_data": ["email", "phone"], "lawful_basis": "contract"} with input as fx.call({"mcp": {"arguments": _contact}, "context": {"claims": {"lawful_basis": "contract"}}})
		with data.giru.bindings as _gdpr
	pd.controls == {"GDPR Art. 6"} with input as fx.tool("send", [], _contact) with data.giru.bindings as _gdpr
}

test_unrecognised_lawful_basis_is_denied if {
	count(pd.deny) == 2 with input as fx.call({"mcp": {"arguments": _contact}, "context": {"claims": {"lawful_basis": "because"}}})
		with data.giru.bindings as _gdpr
}

test_configured_pii_kinds_limit_detection if {
	count(pd.deny) == 0 with input as fx.tool("send", [], _contact)
		with data.giru.bindings as fx.bindings(["gdpr"], {"gdpr": {"pii_kinds": ["ssn"]}})
}

test_arguments_without_personal_data_are_allowed if {
	count(pd.deny) == 0 with input as fx.tool("send", [], {"subject": "hello"}) with data.giru.bindings as _gdpr
	count(pd.controls) == 0 with input as fx.tool("send", [], {"subject": "hello"}) with data.giru.bindings as _gdpr
}

test_erasure_needs_an_erasure_role if {
	pd.deny == {{
		"control": "GDPR Art. 17",
		"message": "Role 'nurse' may not perform erasure with tool 'forget_user' (GDPR Art. 17)",
	}} with input as fx.tool("forget_user", ["erasure"], {})
		with data.giru.bindings as _gdpr
	count(pd.deny) == 0 with input as fx.call({"mcp": {"tool": {"name": "forget_user", "tags": ["erasure"]}}, "context": {"user_role": "dpo"}})
		with data.giru.bindings as _gdpr
}

test_mask_results_masks_the_pii_kinds if {
	count(pd.redact) == 0 with input as fx.base with data.giru.bindings as _gdpr
	pd.redact == {
		{"target": "result", "kind": "email", "action": "mask"},
		{"target": "result", "kind": "phone", "action": "mask"},
	} with input as fx.base
		with data.giru.bindings as fx.bindings(["gdpr"], {"gdpr": {"mask_results": true, "pii_kinds": ["email", "phone", "name"]}})
}
