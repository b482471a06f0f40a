# The Giru decision: aggregates the packs enabled by the call's binding into one result.
# Query data.giru.decision.result per MCP request and data.giru.decision.visible for tools/list
# (docs/policies/input.md). A pack is every package giru.packs.<pack>.<topic>; each topic may
# define `deny` ({control, message}), `redact`, `alerts`, `approve` ({control, message}: a person
# approves the call before it runs), `controls` (sets) and `audit` (object).
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

# Sorted (what iterating a set gives in OPA; a set compiled to Wasm iterates in another order).
redact := sort(_redact)

_alerts contains item if {
	some pack in binding.packs
	some item in data.giru.packs[pack][_].alerts
}

alerts := sort(_alerts)

# Calls a person approves before they run (allowed calls only: a denial needs no approval).
_approve contains object.union(item, {"pack": pack}) if {
	some pack in binding.packs
	some item in data.giru.packs[pack][_].approve
}

approve := sort(_approve)

# Controls in scope for the call, and every control a deny reason cites.
_controls contains control if {
	some pack in binding.packs
	some control in data.giru.packs[pack][_].controls
}

_controls contains r[1] if some r in _reasons

# The leading {} keeps the union defined when no pack has audit fields: OPA's Wasm
# object.union_n([]) is undefined, where OPA's own is {}.
audit := object.union(
	object.union_n(array.concat([{}], [fields |
		some pack in binding.packs
		fields := data.giru.packs[pack][_].audit
	])),
	{"controls": sort(_controls)},
)

result := {
	"allow": allow,
	"deny": deny,
	"redact": redact,
	"audit": audit,
	"alerts": alerts,
	"approve": approve,
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
		"subject": object.get(input, "subject", null),
		"client": object.get(input, "client", null),
		"request": input.request,
		"subscription": object.get(input, "subscription", null),
		"binding": tool.binding,
	}
	allow with input as listing
}

# tools/list by class: the tool names the packs' rules compare a tool's name with, given as
# exact names (a tool's name or "<server>/<name>") and lowercase substrings of its name. Every
# topic of input.topics ([pack, topic] pairs) declares `tool_names` ({"exact": …,
# "substrings": …}); two tools that differ only in names no declaration singles out are
# decided alike, so Giru asks `visible` once per class. A topic that reads `input.mcp.server`
# only as the "<server>/<name>" of its exact names declares `"server": false`; when every topic
# does, tools of different servers fall in one class too (`"server": false` in the answer).
# Undefined when a topic declares nothing: every tool is then decided on its own.
tool_names := {"exact": exact, "substrings": substrings, "server": server} if {
	every topic in input.topics {
		data.giru.packs[topic[0]][topic[1]].tool_names
	}
	declared := [data.giru.packs[topic[0]][topic[1]].tool_names | some topic in input.topics]
	exact := {name | some names in declared; some name in object.get(names, "exact", [])}
	substrings := {lower(s) | some names in declared; some s in object.get(names, "substrings", [])}
	server := count([1 | some names in declared; object.get(names, "server", true) != false]) > 0
}

# tool_names for each binding key of input.bindings (a binding whose topics do not all declare
# is missing).
tool_names_by_binding := {key: names |
	some key in input.bindings
	names := tool_names with input as {"binding": key, "topics": input.topics, "subscription": null}
}

# The fast path of a call (Giru asks once per caller, tool and binding; docs/policies/fast-path.md):
# what the decision of this input, asked with empty arguments, needs from the real arguments and
# the clock to stay the decision. Every topic of input.topics declares `arguments_guard`:
#   bytes_at_most: its contributions do not change while arguments_bytes is at most this;
#   pii_free: true when they do not change while no argument string holds a digit or "@" and
#     no argument number reaches 10^12 (what personal data detection looks at);
#   findings_free: true when they read the arguments only through pii.argument_findings and do
#     not change while it is empty (Giru found no personal data: input.mcp.argument_findings);
#     Giru also keeps the full decision of a call with findings for later calls with the same
#     findings (kinds and paths) when the rest of the plan holds and none is pii_free;
#   absent: top-level argument names whose absence keeps them unchanged;
#   reads: top-level argument names whose values alone change them (read nothing else of the
#     arguments; with none of them present they are unchanged): Giru keeps the full decision
#     of a call for later calls with the same values of these names;
#   clock: true when they read the request's time.
# Undefined when a topic declares nothing: every call is then decided in full.
fast_plan := {
	"bytes_at_most": _min_or_null([g.bytes_at_most | some g in _guards; is_number(g.bytes_at_most)]),
	"pii_free": true in {object.get(g, "pii_free", false) | some g in _guards},
	"findings_free": true in {object.get(g, "findings_free", false) | some g in _guards},
	"absent": {name | some g in _guards; some name in object.get(g, "absent", [])},
	"reads": {name | some g in _guards; some name in object.get(g, "reads", [])},
	"clock": true in {object.get(g, "clock", false) | some g in _guards},
} if {
	every topic in input.topics {
		data.giru.packs[topic[0]][topic[1]].arguments_guard
	}
}

_guards := [guard |
	some topic in input.topics
	topic[0] in binding.packs
	guard := data.giru.packs[topic[0]][topic[1]].arguments_guard
]

_min_or_null(values) := min(values) if count(values) > 0

else := null

# The fast path's first answer: the decision and its plan together.
fast := {"result": result, "plan": fast_plan} if fast_plan

else := {"result": result, "plan": null}
