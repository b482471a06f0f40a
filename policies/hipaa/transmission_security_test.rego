package giru.packs.hipaa.transmission_security_test

import data.giru.packs.hipaa.transmission_security as ts
import data.giru.test.fixtures as fx

_plaintext(loopback) := fx.call({"mcp": {"tool": {"name": "get_patient"}}, "request": {"tls": false, "loopback": loopback}})

test_phi_over_plaintext_is_denied if {
	ts.deny == {{
		"control": "HIPAA 164.312(e)(1)",
		"message": "PHI transmission requires an encrypted (TLS) connection (HIPAA 164.312(e)(1))",
	}} with input as _plaintext(false) with data.giru.bindings as fx.bindings(["hipaa"], {})
}

test_phi_over_loopback_is_allowed_unless_disabled if {
	count(ts.deny) == 0 with input as _plaintext(true) with data.giru.bindings as fx.bindings(["hipaa"], {})
	count(ts.deny) == 1 with input as _plaintext(true)
		with data.giru.bindings as fx.bindings(["hipaa"], {"hipaa": {"allow_loopback_plaintext": false}})
}

test_phi_over_tls_and_non_phi_over_plaintext_are_allowed if {
	count(ts.deny) == 0 with input as fx.tool("get_patient", [], {}) with data.giru.bindings as fx.bindings(["hipaa"], {})
	count(ts.deny) == 0 with input as fx.call({"request": {"tls": false}}) with data.giru.bindings as fx.bindings(["hipaa"], {})
	ts.controls == {"HIPAA 164.312(e)(1)"} with input as fx.tool("get_patient", [], {})
}
