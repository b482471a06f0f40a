# PCI DSS Requirement 8: identify and authenticate access to system components.
package giru.packs.pci_dss.authentication

import data.giru.lib.binding
import data.giru.lib.call
import data.giru.packs.pci_dss.cardholder_data

# PCI DSS Req 8.3 multi-factor authentication for all non-console access into the cardholder
# data environment (Req 8.3.1; v4.0: Req 8.4.2): with pci_dss.require_mfa (default true), a
# cardholder data tool needs a verified second factor: a person's sign-in amr (RFC 8176) or the
# client's mfa_verified claim.
deny contains {
	"control": "PCI DSS Req 8.3",
	"message": sprintf("Multi-factor authentication is required for cardholder data tool '%s' (PCI DSS Req 8.3)", [call.tool]),
} if {
	cardholder_data.request
	binding.setting("pci_dss", "require_mfa", true) == true
	not call.mfa_verified
}

controls contains "PCI DSS Req 8.3" if cardholder_data.request

# This topic's rules read neither the tool's name nor its server (see giru.decision.tool_names).
tool_names := {"server": false}

# How the arguments and the clock change this topic's contributions (see giru.decision.fast_plan).
arguments_guard := {}
