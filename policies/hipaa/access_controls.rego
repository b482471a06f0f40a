# HIPAA access control (45 CFR 164.312(a)): unique user identification, emergency access
# procedure, role requirements per tool.
package giru.packs.hipaa.access_controls

import data.giru.lib.binding
import data.giru.lib.call
import data.giru.packs.hipaa.phi

# HIPAA 45 CFR 164.312(a)(2)(i) unique user identification: PHI access needs a user_id.
deny contains {
	"control": "HIPAA 164.312(a)(2)(i)",
	"message": "PHI access requires a unique user identification (user_id claim) (HIPAA 164.312(a)(2)(i))",
} if {
	phi.request
	call.user_id == ""
}

# Break-glass access is requested with the claim emergency_access: true.
break_glass_requested if call.claim("emergency_access") == true

# Break-glass access is authorized when hipaa.emergency_access_enabled is true and the caller
# carries break_glass_authorized: true and a non-empty emergency_justification claim.
break_glass if {
	break_glass_requested
	binding.setting("hipaa", "emergency_access_enabled", false) == true
	call.claim("break_glass_authorized") == true
	justification := call.claim("emergency_justification")
	is_string(justification)
	justification != ""
}

# HIPAA 45 CFR 164.312(a)(2)(ii) emergency access procedure: break-glass only when authorized.
deny contains {
	"control": "HIPAA 164.312(a)(2)(ii)",
	"message": "Emergency (break-glass) access requested without authorization (HIPAA 164.312(a)(2)(ii))",
} if {
	break_glass_requested
	not break_glass
}

# HIPAA 45 CFR 164.312(b) audit controls: every break-glass use is reviewed.
alerts contains {
	"severity": "high",
	"type": "break_glass_access",
	"control": "HIPAA 164.312(b)",
	"message": sprintf("Emergency (break-glass) access to tool '%s' by user '%s' (HIPAA 164.312(a)(2)(ii))", [call.tool, call.user_id]),
} if break_glass

# HIPAA 45 CFR 164.312(a)(1) access control: a tool listed in hipaa.tool_role_requirements
# only for the roles listed there (lifted by authorized break-glass access).
deny contains {
	"control": "HIPAA 164.312(a)(1)",
	"message": sprintf("Role '%s' is not authorized for tool '%s'; it requires one of %s (HIPAA 164.312(a)(1))", [call.role_label, call.tool, call.quoted(required)]),
} if {
	required := binding.setting_at("hipaa", ["tool_role_requirements", call.tool], null)
	required != null
	not call.role in call.as_set(required)
	not break_glass
}

controls contains "HIPAA 164.312(a)" if phi.request

audit := {"emergency_access": true} if break_glass

# HIPAA 45 CFR 164.312(a)(2)(iii) automatic logoff: a person whose sign-in at the IdP is older
# than hipaa.max_session_age_s (0: no limit) must sign in again before reaching PHI; a person
# whose token carries no auth_time is treated as signed in too long ago. API-key clients do not
# sign in, so the rule does not apply to them.
deny contains {
	"control": "HIPAA 164.312(a)(2)(iii)",
	"message": sprintf("Signed in more than %v seconds ago: sign in again to reach PHI (HIPAA 164.312(a)(2)(iii))", [max_age]),
} if {
	phi.request
	call.person
	max_age := binding.setting("hipaa", "max_session_age_s", 0)
	max_age > 0
	not _session_fresh(max_age)
}

_session_fresh(max_age) if call.session_age_s <= max_age

# What this topic compares a tool's name with (see giru.decision.tool_names).
tool_names := {"server": false, "exact": object.keys(binding.setting("hipaa", "tool_role_requirements", {}))}

# How the arguments and the clock change this topic's contributions (see giru.decision.fast_plan).
# The session age rule reads the clock for a person reaching PHI.
arguments_guard := {"clock": true} if {
	phi.request
	call.person
} else := {}
