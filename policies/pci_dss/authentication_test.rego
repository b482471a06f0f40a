package giru.packs.pci_dss.authentication_test

import data.giru.packs.pci_dss.authentication as authn
import data.giru.test.fixtures as fx

_pci := fx.bindings(["pci_dss"], {})

_without_mfa := {"context": {"mfa_verified": false, "claims": {"mfa_verified": false}}}

test_cardholder_data_without_a_second_factor_is_denied if {
	authn.deny == {{
		"control": "PCI DSS Req 8.3",
		"message": "Multi-factor authentication is required for cardholder data tool 'charge' (PCI DSS Req 8.3)",
	}} with input as fx.call(object.union(_without_mfa, {"mcp": {"tool": {"name": "charge", "tags": ["payment"]}}}))
		with data.giru.bindings as _pci
}

test_a_person_whose_sign_in_used_a_second_factor_is_allowed if {
	person := {"subject": {"id": "p-1", "amr": ["pwd", "otp"]}, "mcp": {"tool": {"name": "charge", "tags": ["payment"]}}}
	count(authn.deny) == 0 with input as fx.call(object.union(_without_mfa, person)) with data.giru.bindings as _pci
}

test_a_person_signed_in_with_a_password_only_is_denied if {
	person := {"subject": {"id": "p-1", "amr": ["pwd"]}, "mcp": {"tool": {"name": "charge", "tags": ["cardholder_data"]}}}
	fx.controls(authn.deny) == {"PCI DSS Req 8.3"} with input as fx.call(object.union(_without_mfa, person))
		with data.giru.bindings as _pci
}

test_client_mfa_claim_is_enough if {
	count(authn.deny) == 0 with input as fx.tool("charge", ["pci"], {}) with data.giru.bindings as _pci
}

test_mfa_can_be_turned_off if {
	count(authn.deny) == 0 with input as fx.call(object.union(_without_mfa, {"mcp": {"tool": {"tags": ["payment"]}}}))
		with data.giru.bindings as fx.bindings(["pci_dss"], {"pci_dss": {"require_mfa": false}})
}

test_tools_without_cardholder_data_need_no_second_factor if {
	count(authn.deny) == 0 with input as fx.call(object.union(_without_mfa, {"mcp": {"tool": {"tags": ["weather"]}}}))
		with data.giru.bindings as _pci
	count(authn.controls) == 0 with input as fx.tool("weather", [], {}) with data.giru.bindings as _pci
}

test_controls_for_cardholder_data if {
	authn.controls == {"PCI DSS Req 8.3"} with input as fx.tool("charge", ["payment"], {}) with data.giru.bindings as _pci
}
