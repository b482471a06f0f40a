# SOC 2 Trust Services Criteria CC6 (logical and physical access controls).
package giru.packs.soc2.access_control

import data.giru.lib.binding
import data.giru.lib.call

# SOC 2 CC6.1 logical access security: callers must be authenticated.
deny contains {
	"control": "SOC 2 CC6.1",
	"message": "Unauthenticated access is not permitted (SOC 2 CC6.1)",
} if not call.authenticated

# SOC 2 CC6.1 logical access security: tools whose sensitivity is in
# soc2.mfa_required_sensitivities (default ["high"]) need a verified MFA claim.
deny contains {
	"control": "SOC 2 CC6.1",
	"message": sprintf("MFA is required for %s-sensitivity tool '%s' (SOC 2 CC6.1)", [call.sensitivity, call.tool]),
} if {
	call.sensitivity in binding.setting("soc2", "mfa_required_sensitivities", ["high"])
	not call.mfa_verified
}

# SOC 2 CC6.2 registration and authorization before access: with soc2.authorized_users
# configured, only the user ids listed there.
deny contains {
	"control": "SOC 2 CC6.2",
	"message": sprintf("User '%s' is not in the authorized users list (SOC 2 CC6.2)", [call.safe_label(call.user_id)]),
} if {
	binding.configured("soc2", "authorized_users")
	not call.user_id in binding.setting("soc2", "authorized_users", [])
}

# When the caller's access was last certified (soc2.user_certifications[user_id].last_certified,
# RFC 3339), in nanoseconds.
last_certified_ns := time.parse_rfc3339_ns(s) if {
	s := binding.setting_at("soc2", ["user_certifications", call.user_id, "last_certified"], null)
	is_string(s)
}

# SOC 2 CC6.3 access removed when no longer required: with soc2.user_certifications
# configured, access needs a certification newer than soc2.recertify_days (default 90).
deny contains {
	"control": "SOC 2 CC6.3",
	"message": sprintf("Access of user '%s' is not certified within the last %v days; re-certification is required (SOC 2 CC6.3)", [call.safe_label(call.user_id), days]),
} if {
	binding.configured("soc2", "user_certifications")
	days := binding.setting("soc2", "recertify_days", 90)
	not certified_within(days)
}

certified_within(days) if call.now_ns - last_certified_ns <= days * 86400000000000

controls contains "SOC 2 CC6.1"

# SOC 2 CC6.6 (as the seed maps it: audit logs and monitoring of access): the fields every
# decision record carries.
audit := {
	"event_type": "mcp_tool_access",
	"sensitivity": call.sensitivity,
	"authenticated": call.authenticated,
	"mfa_verified": call.mfa_verified,
}

controls contains "SOC 2 CC6.6"

# This topic's rules read neither the tool's name nor its server (see giru.decision.tool_names).
tool_names := {"server": false}

# How the arguments and the clock change this topic's contributions (see giru.decision.fast_plan).
# Re-certification reads the clock.
arguments_guard := {"clock": _certifications}

default _certifications := false

_certifications if binding.configured("soc2", "user_certifications")
