# Core tool access: operator deny lists of tools and tags.
# Control: NIST SP 800-53 AC-3 (access enforcement) / AC-6 (least privilege).
package giru.packs.core.tool_access

import data.giru.lib.binding
import data.giru.lib.call

# NIST SP 800-53 AC-3 access enforcement: a tool named in core.denied_tools, by its name or
# as "<server>/<tool>", is never callable.
deny contains {
	"control": "core.denied_tools",
	"message": sprintf("Tool '%s' is denied by policy (core.denied_tools)", [call.tool]),
} if {
	denied := binding.setting("core", "denied_tools", [])
	some name in [call.tool, sprintf("%s/%s", [input.mcp.server, call.tool])]
	name in denied
}

# NIST SP 800-53 AC-3 access enforcement: a tool carrying a tag in core.denied_tags is never
# callable.
deny contains {
	"control": "core.denied_tags",
	"message": sprintf("Tool '%s' has the denied tag '%s' (core.denied_tags)", [call.tool, tag]),
} if {
	some tag in call.tags
	tag in binding.setting("core", "denied_tags", [])
}

# The call must name a known binding; without one no pack can be evaluated (fail closed).
deny contains {
	"control": "core.binding",
	"message": "No policy binding for this call; denied by default (fail closed)",
} if not binding.known

# What this topic compares a tool's name with (see giru.decision.tool_names): the deny list,
# by name or as "<server>/<tool>".
tool_names := {"exact": {name | some name in binding.setting("core", "denied_tools", [])}}

# How the arguments and the clock change this topic's contributions (see giru.decision.fast_plan).
arguments_guard := {}
