"""Masking of card numbers, SSNs, e-mail addresses and phone numbers in tool results."""

from __future__ import annotations

from typing import Any

from giru.policy.redact import mask_text, redact_result


def test_a_luhn_valid_card_number_keeps_only_its_last_four_digits() -> None:
    assert mask_text("card 4111 1111 1111 1111 ok", ["pan"]) == "card **** **** **** 1111 ok"
    assert mask_text("4111-1111-1111-1111", ["pan"]) == "****-****-****-1111"
    assert mask_text("5500000000000004", ["pan"]) == "************0004"


def test_digit_runs_that_fail_luhn_are_not_card_numbers() -> None:
    assert mask_text("order 4111 1111 1111 1112", ["pan"]) == "order 4111 1111 1111 1112"
    assert mask_text("id 123456789012", ["pan"]) == "id 123456789012"  # 12 digits: too short


def test_ssn_email_and_phone_masks_keep_their_shape() -> None:
    assert mask_text("ssn 123-45-6789", ["ssn"]) == "ssn ***-**-6789"
    assert mask_text("mail jane.doe@example.com now", ["email"]) == "mail j***@example.com now"
    assert mask_text("call +1 415-555-0134", ["phone"]) == "call +* ***-***-**34"


def test_only_the_requested_kinds_are_masked() -> None:
    text = "4111111111111111 jane@example.com"
    assert mask_text(text, ["email"]) == "4111111111111111 j***@example.com"
    assert mask_text(text, ["unknown"]) == text


def test_results_are_masked_everywhere_strings_live_but_keep_their_types() -> None:
    result: dict[str, Any] = {
        "content": [
            {"type": "text", "text": "paid with 4111 1111 1111 1111"},
            {"type": "resource", "resource": {"uri": "x:/1", "text": "4242424242424242"}},
        ],
        "structuredContent": {"card": "4111111111111111", "amount": 12.5, "ok": True},
        "_meta": {"trace": "4111111111111111"},
        "isError": False,
    }
    masked, changed = redact_result(result, ["pan"])
    assert changed == 3
    assert masked["content"][0]["text"] == "paid with **** **** **** 1111"
    assert masked["content"][1]["resource"] == {"uri": "x:/1", "text": "************4242"}
    assert masked["structuredContent"] == {"card": "************1111", "amount": 12.5, "ok": True}
    assert masked["_meta"] == {"trace": "4111111111111111"}  # metadata is not content
    assert result["content"][0]["text"] == "paid with 4111 1111 1111 1111"  # not modified


def test_nothing_to_mask_changes_nothing() -> None:
    result = {"content": [{"type": "text", "text": "hello"}]}
    assert redact_result(result, ["pan", "ssn"]) == (result, 0)
