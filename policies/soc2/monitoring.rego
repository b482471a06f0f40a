# SOC 2 Trust Services Criteria CC7.2 (monitoring for anomalies) and CC7.3 (evaluation of and
# response to security events). Anomalies raise alerts; they deny only with
# soc2.deny_on_anomaly.
package giru.packs.soc2.monitoring

import data.giru.lib.binding
import data.giru.lib.call

# SOC 2 CC7.2 anomaly detection: a call outside the user's normal hours
# (soc2.user_normal_hours[user_id]: the hours 0-23 in soc2.timezone, default UTC).
anomalies contains sprintf("Access by user '%s' outside the user's normal hours (SOC 2 CC7.2)", [call.safe_label(call.user_id)]) if {
	hours := binding.setting_at("soc2", ["user_normal_hours", call.user_id], null)
	hours != null
	not call.hour(binding.setting("soc2", "timezone", "UTC")) in hours
}

# SOC 2 CC7.2 anomaly detection: a call from an unknown location. soc2.user_normal_locations
# [user_id] lists network zones and CIDR ranges; the call is known when its network_zone is
# listed or its source_ip is inside a listed range.
anomalies contains sprintf("Access by user '%s' from an unusual location (SOC 2 CC7.2)", [call.safe_label(call.user_id)]) if {
	locations := binding.setting_at("soc2", ["user_normal_locations", call.user_id], null)
	locations != null
	not known_location(locations)
}

known_location(locations) if call.network_zone in locations

known_location(locations) if {
	some cidr in locations
	contains(cidr, "/")
	net.cidr_contains(cidr, input.request.source_ip)
}

# SOC 2 CC7.3 response to security events: every anomaly is an alert for review.
alerts contains {
	"severity": "medium",
	"type": "anomalous_access_pattern",
	"control": "SOC 2 CC7.3",
	"message": message,
} if some message in anomalies

# SOC 2 CC7.2 with soc2.deny_on_anomaly: anomalous calls are refused, not only alerted.
deny contains {"control": "SOC 2 CC7.2", "message": message} if {
	binding.setting("soc2", "deny_on_anomaly", false) == true
	some message in anomalies
}

controls contains "SOC 2 CC7.2"

# This topic's rules read neither the tool's name nor its server (see giru.decision.tool_names).
tool_names := {"server": false}

# How the arguments and the clock change this topic's contributions (see giru.decision.fast_plan).
# The normal hours of the user read the clock.
arguments_guard := {"clock": _hours} if {
	_hours := binding.setting_at("soc2", ["user_normal_hours", call.user_id], null) != null
}
