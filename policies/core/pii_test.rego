package giru.packs.core.pii_test

import data.giru.packs.core.pii
import data.giru.test.fixtures as fx

test_no_masking_by_default if {
	count(pii.redact) == 0 with input as fx.base with data.giru.bindings as fx.bindings([], {"core": {}})
}

test_mask_results_masks_ssn_and_email_by_default if {
	pii.redact == {
		{"target": "result", "kind": "ssn", "action": "mask"},
		{"target": "result", "kind": "email", "action": "mask"},
	} with input as fx.base with data.giru.bindings as fx.bindings([], {"core": {"pii": {"mask_results": true}}})
}

test_configured_kinds_are_masked_and_unknown_kinds_ignored if {
	pii.redact == {{"target": "result", "kind": "phone", "action": "mask"}} with input as fx.base
		with data.giru.bindings as fx.bindings([], {"core": {"pii": {"mask_results": true, "kinds": ["phone", "iban"]}}})
}
