# Core argument limits: the size of the JSON arguments, from the subscription or the default.
# Control: NIST SP 800-53 SI-10 (information input validation).
package giru.packs.core.arguments

import data.giru.lib.binding
import data.giru.lib.call

# The byte limit: the subscription's constraints.tools.<tool>.maxArgumentsBytes, else
# core.max_arguments_bytes (default 1 MiB).
limit := n if n := input.subscription.constraints.tools[call.tool].maxArgumentsBytes

else := binding.setting("core", "max_arguments_bytes", 1048576)

# NIST SP 800-53 SI-10 input validation: arguments larger than the limit are refused.
deny contains {
	"control": "core.max_arguments_bytes",
	"message": sprintf("Arguments are %d bytes, above the limit of %d bytes (core.max_arguments_bytes)", [input.mcp.arguments_bytes, limit]),
} if input.mcp.arguments_bytes > limit

# What this topic compares a tool's name with (see giru.decision.tool_names).
tool_names := {"server": false, "exact": object.keys(object.get(input, ["subscription", "constraints", "tools"], {}))}

# How the arguments and the clock change this topic's contributions (see giru.decision.fast_plan).
arguments_guard := {"bytes_at_most": limit} if is_number(limit)
