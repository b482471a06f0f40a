# Which calls touch protected health information (PHI), and the HIPAA audit fields.
# Control: HIPAA 45 CFR 164.312(b) audit controls.
package giru.packs.hipaa.phi

import data.giru.lib.call

# A call touches PHI when its tool is tagged phi or is named like a patient or medical tool.
request if "phi" in call.tags

request if contains(lower(call.tool), "patient")

request if contains(lower(call.tool), "medical")

default audit := {"phi_access": false}

# HIPAA 45 CFR 164.312(b) audit controls: record PHI access and its declared purpose.
audit := {
	"phi_access": true,
	"purpose_of_use": object.get(input, ["context", "purpose_of_use"], null),
} if request

controls contains "HIPAA 164.312(b)" if request

# What this topic compares a tool's name with (see giru.decision.tool_names).
tool_names := {"server": false, "substrings": ["patient", "medical"]}

# How the arguments and the clock change this topic's contributions (see giru.decision.fast_plan).
arguments_guard := {}
