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

# NIST SP 800-53 AC-3(2) dual authorization: a call to a tool carrying a tag in
# core.approval_tags (default: destructive) runs only once a person approves it (the caller
# through an elicitation, else an administrator: `giru approvals`).
approve contains {
	"control": "core.approval_tags",
	"message": sprintf("Tool '%s' is tagged '%s': a person approves each call (core.approval_tags)", [call.tool, tag]),
} if {
	some tag in call.tags
	tag in binding.setting("core", "approval_tags", ["destructive"])
}

# NIST SP 800-53 AC-3(2) dual authorization: a tool named in core.approval_tools, by its name
# or as "<server>/<tool>", runs only once a person approves the call.
approve contains {
	"control": "core.approval_tools",
	"message": sprintf("Tool '%s' needs a person's approval for each call (core.approval_tools)", [call.tool]),
} if {
	some name in [call.tool, sprintf("%s/%s", [input.mcp.server, call.tool])]
	name in binding.setting("core", "approval_tools", [])
}

# The call must name a known binding; without one no pack can be evaluated (fail closed).
deny contains {
	"control": "core.binding",
	"message": "No policy binding for this call; denied by default (fail closed)",
} if not binding.known

# What this topic compares a tool's name with (see giru.decision.tool_names): the deny and
# approval lists, by name or as "<server>/<tool>".
tool_names := {"server": false, "exact": {name |
	some setting in ["denied_tools", "approval_tools"]
	some name in binding.setting("core", setting, [])
}}

# How the arguments and the clock change this topic's contributions (see giru.decision.fast_plan).
arguments_guard := {}
