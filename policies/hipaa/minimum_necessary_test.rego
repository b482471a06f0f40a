package giru.packs.hipaa.minimum_necessary_test

import data.giru.packs.hipaa.minimum_necessary as mn
import data.giru.test.fixtures as fx

_hipaa := {"hipaa": {
	"clinical_need_threshold": 50,
	"role_thresholds": {"researcher": 500},
	"permitted_fields": {"nurse": ["patient_id", "name", "vitals"]},
}}

_bindings := fx.bindings(["hipaa"], _hipaa)

test_record_count_above_threshold_is_denied if {
	mn.deny == {{
		"control": "HIPAA 164.502(b)",
		"message": "Argument 'record_count' exceeds the clinical need threshold of 50 records for role 'nurse' (HIPAA 164.502(b) minimum necessary)",
	}} with input as fx.tool("get_patient_records", ["phi"], {"record_count": 51})
		with data.giru.bindings as _bindings
}

test_record_count_at_threshold_is_allowed if {
	count(mn.deny) == 0 with input as fx.tool("get_patient_records", ["phi"], {"record_count": 50})
		with data.giru.bindings as _bindings
}

test_numeric_string_record_count_is_checked if {
	count(mn.deny) == 1 with input as fx.tool("get_patient_records", ["phi"], {"record_count": "51"})
		with data.giru.bindings as _bindings
	count(mn.deny) == 0 with input as fx.tool("get_patient_records", ["phi"], {"record_count": "all"})
		with data.giru.bindings as _bindings
}

test_role_threshold_overrides_the_default if {
	mn.threshold == 500 with input as fx.call({"context": {"user_role": "researcher"}}) with data.giru.bindings as _bindings
	count(mn.deny) == 0 with input as fx.call({
		"mcp": {"tool": {"name": "get_patient_records"}, "arguments": {"record_count": 400}},
		"context": {"user_role": "researcher"},
	})
		with data.giru.bindings as _bindings
}

test_threshold_defaults_to_fifty if {
	mn.threshold == 50 with input as fx.base with data.giru.bindings as fx.bindings(["hipaa"], {})
}

test_non_phi_tools_are_not_limited if {
	count(mn.deny) == 0 with input as fx.tool("list_rooms", [], {"record_count": 5000, "fields": ["ssn"]})
		with data.giru.bindings as _bindings
}

test_field_not_permitted_for_role_is_denied if {
	mn.deny == {{
		"control": "HIPAA 164.502(b)",
		"message": "Field 'diagnosis' is not permitted for role 'nurse' (HIPAA 164.502(b) minimum necessary)",
	}} with input as fx.tool("get_patient_records", ["phi"], {"fields": ["patient_id", "diagnosis"]})
		with data.giru.bindings as _bindings
}

test_permitted_fields_are_allowed if {
	count(mn.deny) == 0 with input as fx.tool("get_patient_records", ["phi"], {"fields": ["patient_id", "vitals"], "record_count": 1})
		with data.giru.bindings as _bindings
}

test_single_field_string_and_null_fields if {
	count(mn.deny) == 1 with input as fx.tool("get_patient_records", ["phi"], {"fields": "diagnosis"})
		with data.giru.bindings as _bindings
	count(mn.deny) == 0 with input as fx.tool("get_patient_records", ["phi"], {"fields": null})
		with data.giru.bindings as _bindings
}

test_role_without_permitted_fields_gets_no_fields if {
	mn.deny == {{
		"control": "HIPAA 164.502(b)",
		"message": "Field 'name' is not permitted for role '(none)' (HIPAA 164.502(b) minimum necessary)",
	}} with input as fx.call({
		"mcp": {"tool": {"name": "get_patient_records"}, "arguments": {"fields": ["name"]}},
		"context": {"user_role": ""},
	})
		with data.giru.bindings as _bindings
}

test_field_names_that_look_like_values_are_not_echoed if {
	mn.deny == {{
		"control": "HIPAA 164.502(b)",
		"message": "Field '(unnamed)' is not permitted for role 'nurse' (HIPAA 164.502(b) minimum necessary)",
	}} with input as fx.tool("get_patient_records", ["phi"], {"fields": ["Jane Doe, DOB 1970-01-01"]})
		with data.giru.bindings as _bindings
}

_hours(hours) := fx.bindings(["hipaa"], {"hipaa": {"access_hours": hours}})

test_access_hours_apply_only_when_configured if {
	count(mn.deny) == 0 with input as fx.tool("get_patient_records", ["phi"], {})
		with data.giru.bindings as _bindings
}

test_phi_outside_role_hours_is_denied if {
	# fx.now_ns is 00:00 UTC, 01:00 in Berlin
	mn.deny == {{
		"control": "HIPAA 164.502(b)",
		"message": "PHI access for role 'nurse' is only permitted between 8:00 and 18:00 UTC (HIPAA 164.502(b) minimum necessary)",
	}} with input as fx.tool("get_patient_records", ["phi"], {})
		with data.giru.bindings as _hours({"nurse": {"start": 8, "end": 18}})
}

test_phi_inside_role_or_default_hours_is_allowed if {
	count(mn.deny) == 0 with input as fx.tool("get_patient_records", ["phi"], {})
		with data.giru.bindings as _hours({"nurse": {"start": 22, "end": 6}})
	count(mn.deny) == 0 with input as fx.tool("get_patient_records", ["phi"], {})
		with data.giru.bindings as _hours({"*": {"start": 0, "end": 8}, "physician": {"start": 8, "end": 9}})
	count(mn.deny) == 1 with input as fx.tool("get_patient_records", ["phi"], {})
		with data.giru.bindings as _hours({"*": {"start": 8, "end": 18}})
}

test_access_hours_use_the_configured_time_zone if {
	count(mn.deny) == 0 with input as fx.tool("get_patient_records", ["phi"], {})
		with data.giru.bindings as fx.bindings(["hipaa"], {"hipaa": {"access_hours": {"nurse": {"start": 1, "end": 2}}, "access_hours_timezone": "Europe/Berlin"}})
}

test_authorized_break_glass_lifts_access_hours if {
	count(mn.deny) == 0 with input as fx.call({
		"mcp": {"tool": {"name": "get_patient_records"}},
		"context": {"claims": {"emergency_access": true, "break_glass_authorized": true, "emergency_justification": "code blue"}},
	})
		with data.giru.bindings as fx.bindings(["hipaa"], {"hipaa": {"access_hours": {"nurse": {"start": 8, "end": 18}}, "emergency_access_enabled": true}})
}

test_controls_in_scope_for_phi if {
	mn.controls == {"HIPAA 164.502(b)"} with input as fx.tool("get_patient_records", ["phi"], {})
}
