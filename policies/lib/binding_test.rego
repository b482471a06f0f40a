package giru.lib.binding_test

import data.giru.lib.binding
import data.giru.test.fixtures as fx

_bindings := fx.bindings(["hipaa"], {"hipaa": {"clinical_need_threshold": 10, "nested": {"x": 1}, "roles": ["a"]}})

test_known_binding_lists_its_packs_and_core if {
	binding.known with input as fx.base with data.giru.bindings as _bindings
	binding.packs == {"core", "hipaa"} with input as fx.base with data.giru.bindings as _bindings
}

test_unknown_binding_is_not_known_and_keeps_core if {
	not binding.known with input as fx.call({"binding": "other"}) with data.giru.bindings as _bindings
	binding.packs == {"core"} with input as fx.call({"binding": "other"}) with data.giru.bindings as _bindings
}

test_no_bindings_data_falls_back_to_defaults if {
	not binding.known with input as fx.base
	binding.settings == {} with input as fx.base
	binding.setting("hipaa", "clinical_need_threshold", 50) == 50 with input as fx.base
}

test_input_without_binding_key_uses_empty_key if {
	binding.key == "" with input as {}
}

test_setting_reads_a_key_or_a_path if {
	binding.setting("hipaa", "clinical_need_threshold", 50) == 10 with input as fx.base with data.giru.bindings as _bindings
	binding.setting_at("hipaa", ["nested", "x"], 0) == 1 with input as fx.base with data.giru.bindings as _bindings
	binding.setting_at("hipaa", ["nested", "y"], 0) == 0 with input as fx.base with data.giru.bindings as _bindings
	binding.setting("gdpr", "allowed_regions", []) == [] with input as fx.base with data.giru.bindings as _bindings
}

test_configured_needs_a_non_empty_value if {
	binding.configured("hipaa", "roles") with input as fx.base with data.giru.bindings as _bindings
	not binding.configured("hipaa", "missing") with input as fx.base with data.giru.bindings as _bindings
}
