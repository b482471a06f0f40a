package giru.packs.soc2.access_control_test

import data.giru.packs.soc2.access_control as ac
import data.giru.test.fixtures as fx

_soc2 := fx.bindings(["soc2"], {})

test_unauthenticated_callers_are_denied if {
	ac.deny == {{
		"control": "SOC 2 CC6.1",
		"message": "Unauthenticated access is not permitted (SOC 2 CC6.1)",
	}} with input as fx.call({"context": {"user_authenticated": false}})
		with data.giru.bindings as _soc2
}

test_high_sensitivity_without_mfa_is_denied if {
	ac.deny == {{
		"control": "SOC 2 CC6.1",
		"message": "MFA is required for high-sensitivity tool 'export' (SOC 2 CC6.1)",
	}} with input as fx.call({"mcp": {"tool": {"name": "export", "sensitivity": "high"}}, "context": {"mfa_verified": false}})
		with data.giru.bindings as _soc2
}

test_high_sensitivity_with_mfa_and_low_without_are_allowed if {
	count(ac.deny) == 0 with input as fx.call({"mcp": {"tool": {"sensitivity": "high"}}}) with data.giru.bindings as _soc2
	count(ac.deny) == 0 with input as fx.call({"context": {"mfa_verified": false}}) with data.giru.bindings as _soc2
	count(ac.deny) == 1 with input as fx.call({"mcp": {"tool": {"sensitivity": "medium"}}, "context": {"mfa_verified": false}})
		with data.giru.bindings as fx.bindings(["soc2"], {"soc2": {"mfa_required_sensitivities": ["medium", "high"]}})
}

test_authorized_users_apply_when_configured if {
	ac.deny == {{
		"control": "SOC 2 CC6.2",
		"message": "User 'u-17' is not in the authorized users list (SOC 2 CC6.2)",
	}} with input as fx.base
		with data.giru.bindings as fx.bindings(["soc2"], {"soc2": {"authorized_users": ["u-1"]}})
	count(ac.deny) == 0 with input as fx.base
		with data.giru.bindings as fx.bindings(["soc2"], {"soc2": {"authorized_users": ["u-1", "u-17"]}})
	count(ac.deny) == 0 with input as fx.base with data.giru.bindings as _soc2
}

_certs(last) := fx.bindings(["soc2"], {"soc2": {"user_certifications": {"u-17": {"last_certified": last}}}})

_stale := {
	"control": "SOC 2 CC6.3",
	"message": "Access of user 'u-17' is not certified within the last 90 days; re-certification is required (SOC 2 CC6.3)",
}

test_certification_older_than_recertify_days_is_denied if {
	ac.deny == {_stale} with input as fx.base with data.giru.bindings as _certs("2025-08-27T23:59:59Z")
}

test_recent_certification_is_allowed if {
	count(ac.deny) == 0 with input as fx.base with data.giru.bindings as _certs("2025-08-28T00:00:00Z")
}

test_missing_or_invalid_certification_is_denied if {
	ac.deny == {_stale} with input as fx.base with data.giru.bindings as _certs(null)
	ac.deny == {_stale} with input as fx.base with data.giru.bindings as _certs("last spring")
	fx.controls(ac.deny) == {"SOC 2 CC6.3"} with input as fx.call({"context": {"user_id": "u-99"}})
		with data.giru.bindings as _certs("2025-11-01T00:00:00Z")
}

test_recertify_days_is_configurable if {
	count(ac.deny) == 1 with input as fx.base
		with data.giru.bindings as fx.bindings(["soc2"], {"soc2": {"recertify_days": 30, "user_certifications": {"u-17": {"last_certified": "2025-10-01T00:00:00Z"}}}})
}

test_audit_fields_for_every_call if {
	ac.audit == {"event_type": "mcp_tool_access", "sensitivity": "low", "authenticated": true, "mfa_verified": true} with input as fx.base
	ac.controls == {"SOC 2 CC6.1", "SOC 2 CC6.6"} with input as fx.base
}
