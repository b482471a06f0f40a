package giru.lib.call_test

import data.giru.lib.call
import data.giru.test.fixtures as fx

test_accessors_read_the_input if {
	call.tool == "get_patient" with input as fx.tool("get_patient", ["phi", "phi"], {"a": 1})
	call.tags == {"phi"} with input as fx.tool("get_patient", ["phi", "phi"], {"a": 1})
	call.arguments == {"a": 1} with input as fx.tool("get_patient", ["phi", "phi"], {"a": 1})
	call.sensitivity == "low" with input as fx.base
	call.user_id == "u-17" with input as fx.base
	call.role == "nurse" with input as fx.base
	call.network_zone == "secure-zone-1" with input as fx.base
	call.claim("user_role") == "nurse" with input as fx.base
}

test_missing_fields_fall_back_safely if {
	call.tool == "" with input as {}
	call.sensitivity == "low" with input as {}
	call.tags == set() with input as {}
	call.arguments == {} with input as {}
	call.user_id == "" with input as {}
	call.network_zone == "" with input as {}
	not call.authenticated with input as {}
	not call.mfa_verified with input as {}
}

test_role_label_names_a_missing_role if {
	call.role_label == "nurse" with input as fx.base
	call.role_label == "(none)" with input as {}
}

test_only_literal_true_claims_count if {
	call.authenticated with input as fx.base
	call.mfa_verified with input as fx.base
	not call.mfa_verified with input as fx.call({"context": {"mfa_verified": "true"}})
	not call.authenticated with input as fx.call({"context": {"user_authenticated": false}})
}

test_hour_uses_the_request_clock_and_time_zone if {
	call.hour("UTC") == 0 with input as fx.base
	call.hour("Europe/Berlin") == 1 with input as fx.base
}

test_within_hours_handles_day_and_overnight_windows if {
	call.within_hours(9, {"start": 8, "end": 18})
	not call.within_hours(18, {"start": 8, "end": 18})
	not call.within_hours(7, {"start": 8, "end": 18})
	call.within_hours(23, {"start": 22, "end": 6})
	call.within_hours(2, {"start": 22, "end": 6})
	not call.within_hours(12, {"start": 22, "end": 6})
}

test_encrypted_accepts_tls_or_allowed_loopback if {
	call.encrypted(false) with input as fx.base
	call.encrypted(true) with input as fx.call({"request": {"tls": false, "loopback": true}})
	not call.encrypted(false) with input as fx.call({"request": {"tls": false, "loopback": true}})
	not call.encrypted(true) with input as fx.call({"request": {"tls": false, "loopback": false}})
}

test_as_set_accepts_lists_sets_and_scalars if {
	call.as_set(["a", "b", "a"]) == {"a", "b"}
	call.as_set({"a"}) == {"a"}
	call.as_set("a") == {"a"}
}

test_quoted_lists_names_in_order if {
	call.quoted(["b", "a"]) == "'a', 'b'"
}

test_safe_label_never_echoes_free_text if {
	call.safe_label("patient_id") == "patient_id"
	call.safe_label("4111 1111 1111 1111") == "(unnamed)"
	call.safe_label("4111111111111111") == "(unnamed)"
	call.safe_label("202-555-0123") == "(unnamed)"
	call.safe_label("items.0.card_2") == "items.0.card_2"
	call.safe_label({"a": 1}) == "(unnamed)"
	call.safe_label("") == "(unnamed)"
}

test_safe_label_takes_1_to_64_identifier_characters_with_at_most_6_digits if {
	call.safe_label("a:b/c-d.e_F9") == "a:b/c-d.e_F9"
	call.safe_label(concat("", ["a" | some _ in numbers.range(1, 64)])) == concat("", ["a" | some _ in numbers.range(1, 64)])
	call.safe_label(concat("", ["a" | some _ in numbers.range(1, 65)])) == "(unnamed)"
	call.safe_label("ab123456") == "ab123456"
	call.safe_label("a1b2c3d4e5f6g7") == "(unnamed)"
	call.safe_label("patient id") == "(unnamed)"
	call.safe_label("patient\n") == "(unnamed)"
	call.safe_label("caf\u00e9") == "(unnamed)"
	call.safe_label("\u0664\u0661\u0661\u0661\u0661\u0661\u0661\u0661") == "(unnamed)"
	call.safe_label(7) == "(unnamed)"
}

test_a_person_has_mfa_when_their_amr_holds_a_second_factor if {
	call.mfa_verified with input as {"subject": {"amr": ["pwd", "otp"]}}
	call.mfa_verified with input as {"subject": {"amr": ["hwk"]}}
	not call.mfa_verified with input as {"subject": {"amr": ["pwd"]}}
	not call.mfa_verified with input as {"subject": {"amr": "otp"}}
}

test_a_person_and_their_session_age if {
	call.person with input as {"subject": {"amr": []}}
	not call.person with input as {"subject": null}
	call.session_age_s == 600 with input as {"subject": {"auth_time": 1764114600}, "request": {"time_ns": fx.now_ns}}
	not call.session_age_s with input as {"subject": {}, "request": {"time_ns": fx.now_ns}}
}
