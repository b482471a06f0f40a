package giru.packs.core.tool_access_test

import data.giru.packs.core.tool_access
import data.giru.test.fixtures as fx

_bindings := fx.bindings(["core"], {"core": {"denied_tools": ["drop_table", "files/delete"], "denied_tags": ["destructive"]}})

test_denied_tool_by_name_is_denied if {
	tool_access.deny == {{
		"control": "core.denied_tools",
		"message": "Tool 'drop_table' is denied by policy (core.denied_tools)",
	}} with input as fx.tool("drop_table", [], {}) with data.giru.bindings as _bindings
}

test_denied_tool_by_server_and_name_is_denied if {
	fx.controls(tool_access.deny) == {"core.denied_tools"} with input as fx.call({"mcp": {"server": "files", "tool": {"name": "delete"}}})
		with data.giru.bindings as _bindings
}

test_same_tool_name_on_another_server_is_allowed if {
	count(tool_access.deny) == 0 with input as fx.call({"mcp": {"server": "mail", "tool": {"name": "delete"}}})
		with data.giru.bindings as _bindings
}

test_denied_tag_is_denied if {
	tool_access.deny == {{
		"control": "core.denied_tags",
		"message": "Tool 'wipe' has the denied tag 'destructive' (core.denied_tags)",
	}} with input as fx.tool("wipe", ["destructive", "files"], {}) with data.giru.bindings as _bindings
}

test_unknown_binding_is_denied if {
	fx.controls(tool_access.deny) == {"core.binding"} with input as fx.call({"binding": "missing"})
		with data.giru.bindings as _bindings
}

test_destructive_tag_needs_an_approval_by_default if {
	tool_access.approve == {{
		"control": "core.approval_tags",
		"message": "Tool 'wipe' is tagged 'destructive': a person approves each call (core.approval_tags)",
	}} with input as fx.tool("wipe", ["destructive"], {}) with data.giru.bindings as fx.bindings(["core"], fx.defaults)
}

test_untagged_tool_needs_no_approval if {
	count(tool_access.approve) == 0 with input as fx.tool("read", ["files"], {})
		with data.giru.bindings as fx.bindings(["core"], fx.defaults)
}

test_tool_named_in_approval_tools_needs_an_approval if {
	fx.controls(tool_access.approve) == {"core.approval_tools"} with input as fx.call({"mcp": {"server": "files", "tool": {"name": "move"}}})
		with data.giru.bindings as fx.bindings(["core"], {"core": {"approval_tools": ["files/move"]}})
}
