# HIPAA minimum necessary standard (45 CFR 164.502(b)): PHI requests limited to the records,
# fields and hours the role needs.
package giru.packs.hipaa.minimum_necessary

import data.giru.lib.binding
import data.giru.lib.call
import data.giru.packs.hipaa.access_controls
import data.giru.packs.hipaa.phi

# The record threshold for the caller's role: hipaa.role_thresholds[role], else
# hipaa.clinical_need_threshold (default 50).
threshold := n if {
	n := binding.setting_at("hipaa", ["role_thresholds", call.role], null)
	n != null
}

else := binding.setting("hipaa", "clinical_need_threshold", 50)

# arguments.record_count as a number (numeric strings included).
record_count := n if {
	n := call.arguments.record_count
	is_number(n)
}

record_count := to_number(s) if {
	s := call.arguments.record_count
	is_string(s)
	regex.match(`^[0-9]+(\.[0-9]+)?$`, s)
}

# HIPAA 45 CFR 164.502(b) minimum necessary: no more records than the clinical need threshold.
deny contains {
	"control": "HIPAA 164.502(b)",
	"message": sprintf("Argument 'record_count' exceeds the clinical need threshold of %v records for role '%s' (HIPAA 164.502(b) minimum necessary)", [threshold, call.role_label]),
} if {
	phi.request
	record_count > threshold
}

# The fields requested in arguments.fields (a list, or one field as a string).
fields := call.as_set(f) if {
	f := call.arguments.fields
	f != null
}

# HIPAA 45 CFR 164.502(b) minimum necessary: only the fields hipaa.permitted_fields[role] lists.
deny contains {
	"control": "HIPAA 164.502(b)",
	"message": sprintf("Field '%s' is not permitted for role '%s' (HIPAA 164.502(b) minimum necessary)", [call.safe_label(field), call.role_label]),
} if {
	phi.request
	permitted := call.as_set(binding.setting_at("hipaa", ["permitted_fields", call.role], []))
	some field in fields
	not field in permitted
}

# The access window of the role (hipaa.access_hours[role], else hipaa.access_hours["*"]);
# undefined when neither is configured, and then hours are not restricted.
access_window := w if {
	w := binding.setting_at("hipaa", ["access_hours", call.role], null)
	w != null
} else := w if {
	w := binding.setting_at("hipaa", ["access_hours", "*"], null)
	w != null
}

# HIPAA 45 CFR 164.502(b) minimum necessary: PHI only within the role's configured hours
# (hipaa.access_hours_timezone, default UTC); authorized break-glass access is exempt.
deny contains {
	"control": "HIPAA 164.502(b)",
	"message": sprintf("PHI access for role '%s' is only permitted between %v:00 and %v:00 %s (HIPAA 164.502(b) minimum necessary)", [call.role_label, access_window.start, access_window.end, tz]),
} if {
	phi.request
	not access_controls.break_glass
	tz := binding.setting("hipaa", "access_hours_timezone", "UTC")
	not call.within_hours(call.hour(tz), access_window)
}

controls contains "HIPAA 164.502(b)" if phi.request

# This topic's rules read neither the tool's name nor its server (see giru.decision.tool_names).
tool_names := {"server": false}

# How the arguments and the clock change this topic's contributions (see giru.decision.fast_plan).
# PHI calls read the arguments only as arguments.record_count and arguments.fields, and the
# clock when the role has access hours.
arguments_guard := {"reads": ["record_count", "fields"], "clock": _access_hours} if phi.request

else := {}

default _access_hours := false

_access_hours if access_window
