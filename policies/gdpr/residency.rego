# GDPR Chapter V transfers (Art. 44): personal data only to servers in allowed regions.
package giru.packs.gdpr.residency

import data.giru.lib.binding
import data.giru.lib.call

# The regions of the tool's server, from its region:<r> tags.
regions contains substring(tag, 7, -1) if {
	some tag in call.tags
	startswith(tag, "region:")
}

# GDPR Art. 44 general principle for transfers: with gdpr.allowed_regions configured, a
# server tagged with a region outside them is refused.
deny contains {
	"control": "GDPR Art. 44",
	"message": sprintf("Tool '%s' is served from region '%s', which is not an allowed region (GDPR Art. 44)", [call.tool, call.safe_label(region)]),
} if {
	binding.configured("gdpr", "allowed_regions")
	some region in regions
	not region in binding.setting("gdpr", "allowed_regions", [])
}

# GDPR Art. 44: a server without a region tag cannot be shown to stay in an allowed region
# (refused while gdpr.deny_unknown_region, default true).
deny contains {
	"control": "GDPR Art. 44",
	"message": sprintf("Tool '%s' has no region tag, so its data residency is unknown (GDPR Art. 44)", [call.tool]),
} if {
	binding.configured("gdpr", "allowed_regions")
	binding.setting("gdpr", "deny_unknown_region", true) == true
	count(regions) == 0
}

controls contains "GDPR Art. 44" if binding.configured("gdpr", "allowed_regions")

# This topic's rules read neither the tool's name nor its server (see giru.decision.tool_names).
tool_names := {"server": false}

# How the arguments and the clock change this topic's contributions (see giru.decision.fast_plan).
arguments_guard := {}
