package giru.packs.soc2.monitoring_test

import data.giru.packs.soc2.monitoring as mon
import data.giru.test.fixtures as fx

_hours_alert := {
	"severity": "medium",
	"type": "anomalous_access_pattern",
	"control": "SOC 2 CC7.3",
	"message": "Access by user 'u-17' outside the user's normal hours (SOC 2 CC7.2)",
}

_location_alert := {
	"severity": "medium",
	"type": "anomalous_access_pattern",
	"control": "SOC 2 CC7.3",
	"message": "Access by user 'u-17' from an unusual location (SOC 2 CC7.2)",
}

_normal(hours, locations) := fx.bindings(["soc2"], {"soc2": {
	"user_normal_hours": {"u-17": hours},
	"user_normal_locations": {"u-17": locations},
}})

test_call_outside_normal_hours_alerts_without_denying if {
	# fx.now_ns is hour 0 UTC
	mon.alerts == {_hours_alert} with input as fx.base with data.giru.bindings as _normal([8, 9, 10], ["secure-zone-1"])
	count(mon.deny) == 0 with input as fx.base with data.giru.bindings as _normal([8, 9, 10], ["secure-zone-1"])
}

test_call_from_unknown_location_alerts if {
	mon.alerts == {_location_alert} with input as fx.base with data.giru.bindings as _normal([0], ["lab", "192.168.0.0/16"])
}

test_known_zone_or_address_range_is_normal if {
	count(mon.alerts) == 0 with input as fx.base with data.giru.bindings as _normal([0, 1], ["secure-zone-1"])
	count(mon.alerts) == 0 with input as fx.base with data.giru.bindings as _normal([0, 1], ["lab", "10.0.0.0/8"])
}

test_anomalies_need_configured_baselines if {
	count(mon.alerts) == 0 with input as fx.base with data.giru.bindings as fx.bindings(["soc2"], {})
}

test_normal_hours_use_the_configured_time_zone if {
	count(mon.alerts) == 0 with input as fx.base
		with data.giru.bindings as fx.bindings(["soc2"], {"soc2": {"timezone": "Europe/Berlin", "user_normal_hours": {"u-17": [1]}}})
}

test_deny_on_anomaly_turns_anomalies_into_denials if {
	mon.deny == {{"control": "SOC 2 CC7.2", "message": _hours_alert.message}} with input as fx.base
		with data.giru.bindings as fx.bindings(["soc2"], {"soc2": {"deny_on_anomaly": true, "user_normal_hours": {"u-17": [9]}}})
	mon.controls == {"SOC 2 CC7.2"} with input as fx.base
}
