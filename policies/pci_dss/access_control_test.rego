package giru.packs.pci_dss.access_control_test

import data.giru.packs.pci_dss.access_control as ac
import data.giru.test.fixtures as fx

_jobs := {"pci_dss": {
	"tool_job_requirements": {"refund": "payments_ops", "charge": ["cashier", "payments_ops"]},
	"user_job_functions": {"u-17": ["cashier"]},
}}

test_user_without_the_job_function_is_denied if {
	ac.deny == {{
		"control": "PCI DSS Req 7.1",
		"message": "No documented business need to know: tool 'refund' requires one of the job functions 'payments_ops' (PCI DSS Req 7.1)",
	}} with input as fx.tool("refund", ["payment"], {})
		with data.giru.bindings as fx.bindings(["pci_dss"], _jobs)
}

test_user_with_one_required_function_is_allowed if {
	count(ac.deny) == 0 with input as fx.tool("charge", ["payment"], {}) with data.giru.bindings as fx.bindings(["pci_dss"], _jobs)
}

test_tools_without_requirements_are_open_by_default if {
	count(ac.deny) == 0 with input as fx.tool("balance", ["payment"], {}) with data.giru.bindings as fx.bindings(["pci_dss"], _jobs)
}

test_explicit_grant_mode_denies_ungranted_cardholder_tools if {
	ac.deny == {{
		"control": "PCI DSS Req 7.2",
		"message": "No explicit access grant for cardholder data tool 'balance'; access is denied by default (PCI DSS Req 7.2)",
	}} with input as fx.tool("balance", ["payment"], {})
		with data.giru.bindings as fx.bindings(["pci_dss"], object.union(_jobs, {"pci_dss": {"require_explicit_grant": true}}))
	count(ac.deny) == 0 with input as fx.tool("charge", ["payment"], {})
		with data.giru.bindings as fx.bindings(["pci_dss"], object.union(_jobs, {"pci_dss": {"require_explicit_grant": true}}))
	count(ac.deny) == 0 with input as fx.tool("weather", [], {})
		with data.giru.bindings as fx.bindings(["pci_dss"], {"pci_dss": {"require_explicit_grant": true}})
}

_zones := fx.bindings(["pci_dss"], {"pci_dss": {"cardholder_data_zones": ["secure-zone-1", "payment-processing-zone"]}})

test_cardholder_data_only_from_secure_zones if {
	ac.deny == {{
		"control": "PCI DSS Req 7.3",
		"message": "Cardholder data access is only permitted from secure zones, not from zone 'office-wifi' (PCI DSS Req 7.3)",
	}} with input as fx.call({"mcp": {"tool": {"tags": ["cardholder_data"]}}, "context": {"network_zone": "office-wifi"}})
		with data.giru.bindings as _zones
	ac.deny == {{
		"control": "PCI DSS Req 7.3",
		"message": "Cardholder data access is only permitted from secure zones, not from zone '(unnamed)' (PCI DSS Req 7.3)",
	}} with input as fx.call({"mcp": {"tool": {"tags": ["cardholder_data"]}}, "context": {"network_zone": ""}})
		with data.giru.bindings as _zones
	count(ac.deny) == 0 with input as fx.tool("vault", ["cardholder_data"], {}) with data.giru.bindings as _zones
}

test_zones_apply_only_when_configured if {
	count(ac.deny) == 0 with input as fx.call({"mcp": {"tool": {"tags": ["cardholder_data"]}}, "context": {"network_zone": "office-wifi"}})
		with data.giru.bindings as fx.bindings(["pci_dss"], {})
}

test_controls_for_cardholder_data if {
	ac.controls == {"PCI DSS Req 7.1"} with input as fx.tool("charge", ["pci"], {})
}
