# The Giru decision: aggregates the packs enabled by the call's binding into one result.
# Query data.giru.decision.result per MCP request and data.giru.decision.visible for tools/list
# (docs/policies/input.md). A pack is every package giru.packs.<pack>.<topic>; each topic may
# define `deny` ({control, message}), `redact`, `alerts`, `controls` (sets) and `audit` (object).
package giru.decision

import data.giru.lib.binding

# Fail closed: no decision means no call.
default allow := false

allow if count(_reasons) == 0

default revision := ""

revision := data.giru.revision

# Deny reasons as [pack, control, message], so that sorting orders by pack, then control.
_reasons contains [pack, reason.control, reason.message] if {
	some pack in binding.packs
	some reason in data.giru.packs[pack][_].deny
}

deny := [{"pack": r[0], "control": r[1], "message": r[2]} | some r in sort(_reasons)]

_redact contains item if {
	some pack in binding.packs
	some item in data.giru.packs[pack][_].redact
}

redact := [item | some item in _redact]

_alerts contains item if {
	some pack in binding.packs
	some item in data.giru.packs[pack][_].alerts
}

alerts := [item | some item in _alerts]

# Controls in scope for the call, and every control a deny reason cites.
_controls contains control if {
	some pack in binding.packs
	some control in data.giru.packs[pack][_].controls
}

_controls contains r[1] if some r in _reasons

audit := object.union(
	object.union_n([fields | some pack in binding.packs; fields := data.giru.packs[pack][_].audit]),
	{"controls": sort(_controls)},
)

result := {
	"allow": allow,
	"deny": deny,
	"redact": redact,
	"audit": audit,
	"alerts": alerts,
	"revision": revision,
}

# tools/list: the keys of input.tools that a call without arguments would be allowed for.
visible contains tool.key if {
	some tool in input.tools
	listing := {
		"mcp": {
			"method": "tools/list",
			"server": tool.server,
			"virtual_server": object.get(tool, "virtual_server", null),
			"tool": tool.tool,
			"arguments": {},
			"arguments_bytes": 0,
		},
		"context": input.context,
		"request": input.request,
		"subscription": object.get(input, "subscription", null),
		"binding": tool.binding,
	}
	allow with input as listing
}
