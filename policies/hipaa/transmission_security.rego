# HIPAA transmission security (45 CFR 164.312(e)(1)): PHI only over encrypted connections.
package giru.packs.hipaa.transmission_security

import data.giru.lib.binding
import data.giru.lib.call
import data.giru.packs.hipaa.phi

# HIPAA 45 CFR 164.312(e)(1) transmission security: PHI needs TLS, except on loopback while
# hipaa.allow_loopback_plaintext (default true) allows it.
deny contains {
	"control": "HIPAA 164.312(e)(1)",
	"message": "PHI transmission requires an encrypted (TLS) connection (HIPAA 164.312(e)(1))",
} if {
	phi.request
	not call.encrypted(binding.setting("hipaa", "allow_loopback_plaintext", true))
}

controls contains "HIPAA 164.312(e)(1)" if phi.request

# This topic's rules read neither the tool's name nor its server (see giru.decision.tool_names).
tool_names := {"server": false}

# How the arguments and the clock change this topic's contributions (see giru.decision.fast_plan).
arguments_guard := {}
