package giru.packs.pci_dss.cardholder_data_test

import data.giru.packs.pci_dss.cardholder_data as chd
import data.giru.test.fixtures as fx

_pci := fx.bindings(["pci_dss"], {})

test_tags_mark_cardholder_data_requests if {
	chd.request with input as fx.tool("charge", ["pci"], {})
	chd.request with input as fx.tool("charge", ["payment"], {})
	chd.request with input as fx.tool("charge", ["cardholder_data"], {})
	not chd.request with input as fx.tool("charge", ["billing"], {})
}

test_full_pan_in_arguments_is_denied_naming_the_argument if {
	chd.deny == {{
		"control": "PCI DSS Req 3.4",
		"message": "Full PAN detected in argument 'card'; it must be masked or truncated (PCI DSS Req 3.4)",
	}} with input as fx.tool("charge_card", ["pci"], {"card": "4111 1111 1111 1111", "amount": 10})
		with data.giru.bindings as _pci
}

test_nested_pan_is_denied_and_never_echoed if {
	fx.controls(chd.deny) == {"PCI DSS Req 3.4"} with input as fx.tool("charge", ["payment"], {"payer": {"cards": ["x", "5500-0000-0000-0004"]}})
		with data.giru.bindings as _pci
	every reason in chd.deny {
		not contains(reason.message, "5500")
	} with input as fx.tool("charge", ["payment"], {"payer": {"cards": ["x", "5500-0000-0000-0004"]}})
		with data.giru.bindings as _pci
}

test_masked_pan_and_non_pci_tools_are_allowed if {
	count(chd.deny) == 0 with input as fx.tool("charge", ["pci"], {"card": "411111******1111"}) with data.giru.bindings as _pci
	count(chd.deny) == 0 with input as fx.tool("notes", [], {"card": "4111 1111 1111 1111"}) with data.giru.bindings as _pci
}

test_results_are_masked_by_default if {
	chd.redact == {{"target": "result", "kind": "pan", "action": "mask"}} with input as fx.tool("charge", ["pci"], {})
		with data.giru.bindings as _pci
	count(chd.redact) == 0 with input as fx.tool("charge", ["pci"], {})
		with data.giru.bindings as fx.bindings(["pci_dss"], {"pci_dss": {"mask_results": false}})
	count(chd.redact) == 0 with input as fx.tool("notes", [], {}) with data.giru.bindings as _pci
}

_custodians := fx.bindings(["pci_dss"], {"pci_dss": {"key_custodians": ["u-1"]}})

test_key_management_tools_need_a_key_custodian if {
	chd.deny == {{
		"control": "PCI DSS Req 3.6",
		"message": "Tool 'rotate_key' manages cryptographic keys and is restricted to designated key custodians (PCI DSS Req 3.6)",
	}} with input as fx.tool("rotate_key", ["key_management"], {})
		with data.giru.bindings as _custodians
	count(chd.deny) == 0 with input as fx.call({"mcp": {"tool": {"name": "rotate_key", "tags": ["key_management"]}}, "context": {"user_id": "u-1"}})
		with data.giru.bindings as _custodians
}

test_cardholder_data_over_plaintext_is_denied if {
	chd.deny == {{
		"control": "PCI DSS Req 4.1",
		"message": "Cardholder data requires an encrypted (TLS) connection (PCI DSS Req 4.1)",
	}} with input as fx.call({"mcp": {"tool": {"tags": ["pci"]}}, "request": {"tls": false}})
		with data.giru.bindings as _pci
	count(chd.deny) == 0 with input as fx.call({"mcp": {"tool": {"tags": ["pci"]}}, "request": {"tls": false, "loopback": true}})
		with data.giru.bindings as _pci
}

test_audit_and_controls_for_cardholder_data if {
	chd.audit == {"cardholder_data": true} with input as fx.tool("charge", ["pci"], {})
	chd.controls == {"PCI DSS Req 10.2"} with input as fx.tool("charge", ["pci"], {})
}
