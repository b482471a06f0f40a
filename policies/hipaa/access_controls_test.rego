package giru.packs.hipaa.access_controls_test

import data.giru.packs.hipaa.access_controls as ac
import data.giru.test.fixtures as fx

_break_glass := {"emergency_access": true, "break_glass_authorized": true, "emergency_justification": "code blue"}

_enabled := fx.bindings(["hipaa"], {"hipaa": {"emergency_access_enabled": true}})

test_phi_without_user_id_is_denied if {
	ac.deny == {{
		"control": "HIPAA 164.312(a)(2)(i)",
		"message": "PHI access requires a unique user identification (user_id claim) (HIPAA 164.312(a)(2)(i))",
	}} with input as fx.call({"mcp": {"tool": {"name": "get_patient"}}, "context": {"user_id": ""}})
		with data.giru.bindings as fx.bindings(["hipaa"], {})
}

test_phi_with_user_id_and_non_phi_without_are_allowed if {
	count(ac.deny) == 0 with input as fx.tool("get_patient", [], {}) with data.giru.bindings as fx.bindings(["hipaa"], {})
	count(ac.deny) == 0 with input as fx.call({"context": {"user_id": ""}}) with data.giru.bindings as fx.bindings(["hipaa"], {})
}

test_authorized_break_glass_is_allowed_and_alerted if {
	ac.break_glass with input as fx.call({"context": {"claims": _break_glass}}) with data.giru.bindings as _enabled
	count(ac.deny) == 0 with input as fx.call({"context": {"claims": _break_glass}}) with data.giru.bindings as _enabled
	ac.alerts == {{
		"severity": "high",
		"type": "break_glass_access",
		"control": "HIPAA 164.312(b)",
		"message": "Emergency (break-glass) access to tool 'lookup' by user 'u-17' (HIPAA 164.312(a)(2)(ii))",
	}} with input as fx.call({"context": {"claims": _break_glass}})
		with data.giru.bindings as _enabled
	ac.audit == {"emergency_access": true} with input as fx.call({"context": {"claims": _break_glass}}) with data.giru.bindings as _enabled
}

_unauthorized := {"control": "HIPAA 164.312(a)(2)(ii)", "message": "Emergency (break-glass) access requested without authorization (HIPAA 164.312(a)(2)(ii))"}

test_break_glass_without_authorization_is_denied if {
	# the pack does not enable emergency access by default
	ac.deny == {_unauthorized} with input as fx.call({"context": {"claims": _break_glass}})
		with data.giru.bindings as fx.bindings(["hipaa"], {})
	ac.deny == {_unauthorized} with input as fx.call({"context": {"claims": object.union(_break_glass, {"break_glass_authorized": false})}})
		with data.giru.bindings as _enabled
	ac.deny == {_unauthorized} with input as fx.call({"context": {"claims": object.union(_break_glass, {"emergency_justification": ""})}})
		with data.giru.bindings as _enabled
	ac.deny == {_unauthorized} with input as fx.call({"context": {"claims": object.union(_break_glass, {"emergency_justification": true})}})
		with data.giru.bindings as _enabled
}

_roles := {"hipaa": {"tool_role_requirements": {"prescribe": ["physician"]}}}

test_tool_role_requirement_denies_other_roles if {
	ac.deny == {{
		"control": "HIPAA 164.312(a)(1)",
		"message": "Role 'nurse' is not authorized for tool 'prescribe'; it requires one of 'physician' (HIPAA 164.312(a)(1))",
	}} with input as fx.tool("prescribe", [], {})
		with data.giru.bindings as fx.bindings(["hipaa"], _roles)
}

test_tool_role_requirement_allows_listed_roles_and_other_tools if {
	count(ac.deny) == 0 with input as fx.call({"mcp": {"tool": {"name": "prescribe"}}, "context": {"user_role": "physician"}})
		with data.giru.bindings as fx.bindings(["hipaa"], _roles)
	count(ac.deny) == 0 with input as fx.tool("chart", [], {}) with data.giru.bindings as fx.bindings(["hipaa"], _roles)
}

test_break_glass_lifts_tool_role_requirements if {
	count(ac.deny) == 0 with input as fx.call({"mcp": {"tool": {"name": "prescribe"}}, "context": {"claims": _break_glass}})
		with data.giru.bindings as fx.bindings(["hipaa"], object.union(_roles, {"hipaa": {"emergency_access_enabled": true}}))
}

test_controls_in_scope_for_phi if {
	ac.controls == {"HIPAA 164.312(a)"} with input as fx.tool("get_patient", [], {})
}

_logoff := {
	"control": "HIPAA 164.312(a)(2)(iii)",
	"message": "Signed in more than 28800 seconds ago: sign in again to reach PHI (HIPAA 164.312(a)(2)(iii))",
}

_person(auth_time) := fx.call({"mcp": {"tool": {"name": "get_patient"}}, "subject": {"amr": ["pwd"], "auth_time": auth_time}})

_eight_hours := fx.bindings(["hipaa"], {"hipaa": {"max_session_age_s": 28800}})

test_a_person_signed_in_too_long_ago_is_logged_off_from_phi if {
	ac.deny == {_logoff} with input as _person(1764115200 - 28801) with data.giru.bindings as _eight_hours
	ac.deny == {_logoff} with input as fx.call({"mcp": {"tool": {"name": "get_patient"}}, "subject": {"amr": ["pwd"]}})
		with data.giru.bindings as _eight_hours
}

test_a_recent_sign_in_an_api_key_or_no_limit_is_not_logged_off if {
	count(ac.deny) == 0 with input as _person(1764115200 - 600) with data.giru.bindings as _eight_hours
	count(ac.deny) == 0 with input as fx.tool("get_patient", [], {}) with data.giru.bindings as _eight_hours
	count(ac.deny) == 0 with input as _person(0) with data.giru.bindings as fx.bindings(["hipaa"], {"hipaa": {"max_session_age_s": 0}})
}
