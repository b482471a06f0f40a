package giru.packs.core.arguments_test

import data.giru.packs.core.arguments
import data.giru.test.fixtures as fx

_subscription := {"constraints": {"tools": {"charge": {"maxArgumentsBytes": 4096}}}}

test_subscription_limit_applies_to_its_tool if {
	arguments.deny == {{
		"control": "core.max_arguments_bytes",
		"message": "Arguments are 5000 bytes, above the limit of 4096 bytes (core.max_arguments_bytes)",
	}} with input as fx.call({"mcp": {"tool": {"name": "charge"}, "arguments_bytes": 5000}, "subscription": _subscription})
		with data.giru.bindings as fx.bindings([], {})
}

test_under_the_subscription_limit_is_allowed if {
	count(arguments.deny) == 0 with input as fx.call({"mcp": {"tool": {"name": "charge"}, "arguments_bytes": 4096}, "subscription": _subscription})
		with data.giru.bindings as fx.bindings([], {})
}

test_pack_limit_applies_without_a_subscription_limit if {
	arguments.limit == 100 with input as fx.call({"mcp": {"arguments_bytes": 101}, "subscription": _subscription})
		with data.giru.bindings as fx.bindings([], {"core": {"max_arguments_bytes": 100}})
	count(arguments.deny) == 1 with input as fx.call({"mcp": {"arguments_bytes": 101}})
		with data.giru.bindings as fx.bindings([], {"core": {"max_arguments_bytes": 100}})
}

test_default_limit_is_one_mebibyte if {
	arguments.limit == 1048576 with input as fx.base with data.giru.bindings as fx.bindings([], {})
}
