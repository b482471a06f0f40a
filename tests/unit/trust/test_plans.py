"""The decisions on an offered surface: served, pinned on first use, or held for review."""

from __future__ import annotations

from dataclasses import dataclass

from giru.trust.plans import Hold, Known, Offer, Review, plan, screen


@dataclass(frozen=True)
class _Finding:
    tool: str
    rule: str = "hidden-instruction"
    severity: str = "high"
    reason: str = "tells the model to hide things"


def offer(name: str, digest: str = "h1") -> Offer:
    return Offer(name, digest, 10, {"name": name})


PINNED = Known(baseline=True, pins={"a": "h1", "b": "h1"})


def test_a_first_surface_under_pin_is_pinned_whole_and_served() -> None:
    decided = plan("pin", Known(), [offer("a"), offer("b")], {})
    assert decided.served == {"a", "b"}
    assert [o.name for o in decided.pins] == ["a", "b"]
    assert decided.baseline
    assert not decided.detections


def test_a_first_surface_with_a_high_finding_holds_that_tool_even_under_pin() -> None:
    decided = plan("pin", Known(), [offer("a"), offer("b")], {"b": [_Finding("b")]})
    assert decided.served == {"a"}
    assert decided.held == {"b": Hold("pending", "added")}
    (detection,) = decided.detections
    assert detection.tool == "b"
    assert detection.new
    assert detection.findings


def test_a_low_finding_does_not_hold_a_first_surface() -> None:
    decided = plan("pin", Known(), [offer("a")], {"a": [_Finding("a", severity="low")]})
    assert decided.served == {"a"}


def test_a_first_surface_under_review_is_held_whole() -> None:
    decided = plan("review", Known(), [offer("a"), offer("b")], {})
    assert decided.served == frozenset()
    assert {d.tool for d in decided.detections} == {"a", "b"}
    assert decided.baseline
    assert not decided.pins


def test_auto_serves_and_pins_whatever_is_offered() -> None:
    decided = plan("auto", PINNED, [offer("a", "h2"), offer("c")], {})
    assert decided.served == {"a", "c"}
    assert [o.name for o in decided.pins] == ["a", "c"]
    assert not decided.detections


def test_unchanged_tools_are_served_and_write_nothing() -> None:
    decided = plan("pin", PINNED, [offer("a"), offer("b")], {})
    assert decided.served == {"a", "b"}
    assert not decided.writes


def test_a_changed_tool_is_held_and_the_others_keep_serving() -> None:
    decided = plan("pin", PINNED, [offer("a", "h2"), offer("b")], {})
    assert decided.served == {"b"}
    assert decided.held == {"a": Hold("pending", "changed")}
    (detection,) = decided.detections
    assert (detection.tool, detection.change, detection.new) == ("a", "changed", True)


def test_a_new_tool_on_a_pinned_server_is_held() -> None:
    decided = plan("pin", PINNED, [offer("a"), offer("b"), offer("c")], {})
    assert decided.held == {"c": Hold("pending", "added")}


def test_a_renamed_tool_is_a_removal_and_an_addition() -> None:
    decided = plan("pin", PINNED, [offer("a"), offer("b2")], {})
    assert {(d.tool, d.change) for d in decided.detections} == {("b2", "added"), ("b", "removed")}


def test_a_removed_tool_already_under_review_as_removed_writes_nothing() -> None:
    known = Known(True, {"a": "h1", "b": "h1"}, {"b": Review("pending", "removed", "")})
    assert not plan("pin", known, [offer("a")], {}).writes


def test_the_same_offer_again_writes_nothing_and_stays_held() -> None:
    known = Known(True, {"a": "h1"}, {"a": Review("pending", "changed", "h2")})
    decided = plan("pin", known, [offer("a", "h2")], {})
    assert not decided.writes
    assert decided.held == {"a": Hold("pending", "changed")}


def test_a_newer_offer_replaces_the_pending_one_without_a_new_transition() -> None:
    known = Known(True, {"a": "h1"}, {"a": Review("pending", "changed", "h2")})
    (detection,) = plan("pin", known, [offer("a", "h3")], {}).detections
    assert detection.offer is not None
    assert detection.offer.hash == "h3"
    assert not detection.new


def test_a_server_flapping_back_to_the_approved_definition_is_served_and_writes_nothing() -> None:
    known = Known(True, {"a": "h1"}, {"a": Review("pending", "changed", "h2")})
    decided = plan("pin", known, [offer("a", "h1")], {})
    assert decided.served == {"a"}
    assert not decided.writes


def test_a_rejected_offer_stays_rejected_while_the_server_keeps_offering_it() -> None:
    known = Known(True, {"a": "h1"}, {"a": Review("rejected", "changed", "h2")})
    decided = plan("pin", known, [offer("a", "h2")], {})
    assert decided.held == {"a": Hold("rejected", "changed")}
    assert not decided.writes


def test_another_offer_after_a_rejection_is_a_new_transition() -> None:
    known = Known(True, {"a": "h1"}, {"a": Review("rejected", "changed", "h2")})
    (detection,) = plan("pin", known, [offer("a", "h3")], {}).detections
    assert detection.new


def test_tools_beyond_the_cap_are_held_unrecorded() -> None:
    offers = [offer(f"t{i}") for i in range(5)]
    decided = plan("pin", Known(), offers, {}, max_tools=3)
    assert decided.served == {"t0", "t1", "t2"}
    assert decided.held == {"t3": Hold("unrecorded", "added"), "t4": Hold("unrecorded", "added")}
    assert decided.overflow == 2
    assert len(decided.pins) == 3


def test_without_a_store_only_approved_definitions_are_served() -> None:
    decided = screen("pin", PINNED, [offer("a"), offer("b", "h2"), offer("c")])
    assert decided.served == {"a"}
    assert decided.held == {"b": Hold("unrecorded", "changed"), "c": Hold("unrecorded", "added")}
    assert not decided.writes


def test_without_a_store_a_first_surface_is_not_trusted() -> None:
    assert screen("pin", Known(), [offer("a")]).served == frozenset()
    assert screen("auto", Known(), [offer("a")]).served == {"a"}
