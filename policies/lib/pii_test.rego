package giru.lib.pii_test

import data.giru.lib.pii

test_pan_detects_luhn_valid_card_numbers if {
	pii.pan("4111111111111111")
	pii.pan("4111 1111 1111 1111")
	pii.pan("5500-0000-0000-0004")
	pii.pan("378282246310005")
	pii.pan("pay with 4111 1111 1111 1111 today")
	pii.pan("4111111111111111 123")
	pii.pan("4111 1111 1111 1111 12")
}

test_pan_ignores_non_cards if {
	not pii.pan("4111 1111 1111 1112")
	not pii.pan("411111111111")
	not pii.pan("0000000000000")
	not pii.pan("2025-11-26T00:00:00Z")
	not pii.pan("order 12345")
	not pii.pan("41111111111111111111111")
}

test_luhn_checks_the_mod_10_sum if {
	pii.luhn("79927398713")
	not pii.luhn("79927398710")
	not pii.luhn("0000000000000000")
}

test_ssn_needs_a_valid_area_group_and_serial if {
	pii.ssn("ssn 123-45-6789")
	not pii.ssn("000-12-3456")
	not pii.ssn("666-12-3456")
	not pii.ssn("912-12-3456")
	not pii.ssn("123-00-6789")
	not pii.ssn("123-45-0000")
	not pii.ssn("123456789")
}

test_email_and_phone_detection if {
	pii.email("write to jane.doe+x@example.co.uk")
	not pii.email("jane at example")
	pii.phone("+1 202 555 0123")
	pii.phone("+442079460958")
	pii.phone("(202) 555-0123")
	pii.phone("call 202-555-0123")
	not pii.phone("2024-01-15")
	not pii.phone("4111 1111 1111 1111")
}

test_kinds_lists_every_kind_in_a_string if {
	pii.kinds("4111111111111111 jane@example.com 123-45-6789 +12025550123") == {"pan", "email", "ssn", "phone"}
	pii.kinds("nothing here") == set()
}

test_findings_name_paths_in_nested_values if {
	arguments := {
		"card": "4111 1111 1111 1111",
		"payer": {"contacts": ["jane@example.com", 4111111111111111]},
		"amount": 12.5,
		"ok": true,
	}
	pii.findings(arguments) == {
		{"kind": "pan", "path": "card"},
		{"kind": "email", "path": "payer.contacts.0"},
		{"kind": "pan", "path": "payer.contacts.1"},
	}
	pii.paths(arguments, "pan") == {"card", "payer.contacts.1"}
}

_card := {"card": "4111 1111 1111 1111", "n": 1}

test_argument_findings_are_computed_from_the_arguments_when_the_input_has_none if {
	pii.argument_findings == {{"kind": "pan", "path": "card"}} with input as {"mcp": {"arguments": _card}}
	pii.argument_findings == set() with input as {"mcp": {}}
	pii.argument_findings == {{"kind": "pan", "path": "card"}} with input as {"mcp": {"arguments": _card, "argument_findings": "none"}}
}

test_argument_findings_are_the_input_s_when_giru_put_them_there if {
	pii.argument_findings == {{"kind": "email", "path": "to"}} with input as {"mcp": {"arguments": _card, "argument_findings": [{"kind": "email", "path": "to"}]}}
	pii.argument_findings == set() with input as {"mcp": {"arguments": _card, "argument_findings": []}}
	pii.argument_findings == {{"kind": "pan", "path": "card"}} with input as {"mcp": {"argument_findings": [{"kind": "pan", "path": "card"}, {"kind": "pan", "path": "card"}]}}
}
