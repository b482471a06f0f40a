package giru.packs.gdpr.residency_test

import data.giru.packs.gdpr.residency
import data.giru.test.fixtures as fx

_eu := fx.bindings(["gdpr"], {"gdpr": {"allowed_regions": ["eu-west-1", "eu-central-1"]}})

test_server_outside_allowed_regions_is_denied if {
	residency.deny == {{
		"control": "GDPR Art. 44",
		"message": "Tool 'lookup' is served from region 'us-east-1', which is not an allowed region (GDPR Art. 44)",
	}} with input as fx.tool("lookup", ["region:us-east-1"], {})
		with data.giru.bindings as _eu
}

test_server_in_allowed_region_is_allowed if {
	count(residency.deny) == 0 with input as fx.tool("lookup", ["crm", "region:eu-west-1"], {}) with data.giru.bindings as _eu
	residency.controls == {"GDPR Art. 44"} with input as fx.base with data.giru.bindings as _eu
}

test_server_without_region_is_denied_unless_allowed if {
	residency.deny == {{
		"control": "GDPR Art. 44",
		"message": "Tool 'lookup' has no region tag, so its data residency is unknown (GDPR Art. 44)",
	}} with input as fx.base
		with data.giru.bindings as _eu
	count(residency.deny) == 0 with input as fx.base
		with data.giru.bindings as fx.bindings(["gdpr"], {"gdpr": {"allowed_regions": ["eu-west-1"], "deny_unknown_region": false}})
}

test_residency_applies_only_when_regions_are_configured if {
	count(residency.deny) == 0 with input as fx.tool("lookup", ["region:us-east-1"], {}) with data.giru.bindings as fx.bindings(["gdpr"], {})
	count(residency.controls) == 0 with input as fx.base with data.giru.bindings as fx.bindings(["gdpr"], {})
}
