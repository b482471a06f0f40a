# PCI DSS Requirement 3 (protect stored account data) and Requirement 4 (protect cardholder
# data in transmission) for tools that handle cardholder data.
package giru.packs.pci_dss.cardholder_data

import data.giru.lib.binding
import data.giru.lib.call
import data.giru.lib.pii

# A call handles cardholder data when its tool is tagged pci, payment or cardholder_data.
request if {
	some tag in call.tags
	tag in {"pci", "payment", "cardholder_data"}
}

# PCI DSS Req 3.4 render PAN unreadable: a full PAN (Luhn-valid) in any argument, nested or
# not, is refused; the message names the argument, never the number.
deny contains {
	"control": "PCI DSS Req 3.4",
	"message": sprintf("Full PAN detected in argument '%s'; it must be masked or truncated (PCI DSS Req 3.4)", [call.safe_label(path)]),
} if {
	request
	some finding in pii.argument_findings
	finding.kind == "pan"
	path := finding.path
}

# PCI DSS Req 3.4 render PAN unreadable wherever displayed: mask PANs in results
# (pci_dss.mask_results, default true).
redact contains {"target": "result", "kind": "pan", "action": "mask"} if {
	request
	binding.setting("pci_dss", "mask_results", true) == true
}

# PCI DSS Req 3.6 key management: tools tagged key_management only for the user ids in
# pci_dss.key_custodians.
deny contains {
	"control": "PCI DSS Req 3.6",
	"message": sprintf("Tool '%s' manages cryptographic keys and is restricted to designated key custodians (PCI DSS Req 3.6)", [call.tool]),
} if {
	"key_management" in call.tags
	not call.user_id in binding.setting("pci_dss", "key_custodians", [])
}

# PCI DSS Req 4.1 strong cryptography for cardholder data in transmission: TLS, except on
# loopback while pci_dss.allow_loopback_plaintext (default true) allows it.
deny contains {
	"control": "PCI DSS Req 4.1",
	"message": "Cardholder data requires an encrypted (TLS) connection (PCI DSS Req 4.1)",
} if {
	request
	not call.encrypted(binding.setting("pci_dss", "allow_loopback_plaintext", true))
}

controls contains "PCI DSS Req 10.2" if request

audit := {"cardholder_data": true} if request

# This topic's rules read neither the tool's name nor its server (see giru.decision.tool_names).
tool_names := {"server": false}

# How the arguments and the clock change this topic's contributions (see giru.decision.fast_plan).
# Its rules read the arguments only through pii.argument_findings (a card number).
arguments_guard := {"findings_free": true} if request

else := {}
