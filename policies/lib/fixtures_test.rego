# Test fixtures shared by the pack tests: a realistic base input and bindings builders.
package giru.test.fixtures

# 2025-11-26T00:00:00Z (a Wednesday), the clock of every fixture call.
now_ns := 1764115200000000000

base := {
	"mcp": {
		"method": "tools/call",
		"server": "records",
		"virtual_server": null,
		"tool": {"name": "lookup", "tags": [], "sensitivity": "low"},
		"arguments": {},
		"arguments_bytes": 2,
	},
	"context": {
		"client": "care-agent",
		"tenant": "default",
		"environment": "production",
		"user_authenticated": true,
		"user_id": "u-17",
		"user_role": "nurse",
		"mfa_verified": true,
		"network_zone": "secure-zone-1",
		"purpose_of_use": "treatment",
		"claims": {"user_id": "u-17", "user_role": "nurse", "mfa_verified": true},
	},
	"request": {
		"id": "0193-test",
		"tls": true,
		"loopback": false,
		"source_ip": "10.20.30.40",
		"time_ns": now_ns,
		"protocol_version": "2025-06-18",
	},
	"subscription": null,
	"binding": "b",
}

# call(patch): the base input with patch merged in recursively (arrays are replaced).
call(patch) := object.union(base, patch)

# tool(name, tags, arguments): a tools/call of name with tags and arguments.
tool(name, tags, arguments) := call({"mcp": {"tool": {"name": name, "tags": tags}, "arguments": arguments}})

# bindings(packs, settings): data.giru.bindings holding the one binding "b".
bindings(packs, settings) := {"b": {"packs": packs, "data": settings}}

# The shipped default data of every pack, as Giru merges it ({"core": {...}, "hipaa": ...}).
defaults := object.union_n([data.core, data.hipaa, data.pci_dss, data.soc2, data.gdpr])

# controls(reasons): the controls of a set of deny reasons.
controls(reasons) := {r.control | some r in reasons}
