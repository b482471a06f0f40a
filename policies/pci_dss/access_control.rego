# PCI DSS Requirement 7: restrict access to cardholder data by business need to know.
package giru.packs.pci_dss.access_control

import data.giru.lib.binding
import data.giru.lib.call
import data.giru.packs.pci_dss.cardholder_data

# The job functions a tool requires (pci_dss.tool_job_requirements[tool]: one or a list);
# undefined when the tool has no requirement configured.
required_functions := call.as_set(f) if {
	f := binding.setting_at("pci_dss", ["tool_job_requirements", call.tool], null)
	f != null
}

# The caller's job functions (pci_dss.user_job_functions[user_id]).
user_functions := call.as_set(binding.setting_at("pci_dss", ["user_job_functions", call.user_id], []))

# PCI DSS Req 7.1 business need to know: a tool with a job-function requirement only for
# users holding one of the required functions.
deny contains {
	"control": "PCI DSS Req 7.1",
	"message": sprintf("No documented business need to know: tool '%s' requires one of the job functions %s (PCI DSS Req 7.1)", [call.tool, call.quoted(required_functions)]),
} if {
	count(required_functions & user_functions) == 0
}

# PCI DSS Req 7.2 access control system set to deny all by default: with
# pci_dss.require_explicit_grant, a cardholder data tool without a job-function requirement
# (an explicit grant) is refused.
deny contains {
	"control": "PCI DSS Req 7.2",
	"message": sprintf("No explicit access grant for cardholder data tool '%s'; access is denied by default (PCI DSS Req 7.2)", [call.tool]),
} if {
	cardholder_data.request
	binding.setting("pci_dss", "require_explicit_grant", false) == true
	not required_functions
}

# PCI DSS Req 7.3 (restricted access zones): tools tagged cardholder_data only from the
# network zones in pci_dss.cardholder_data_zones, when any are configured.
deny contains {
	"control": "PCI DSS Req 7.3",
	"message": sprintf("Cardholder data access is only permitted from secure zones, not from zone '%s' (PCI DSS Req 7.3)", [zone]),
} if {
	"cardholder_data" in call.tags
	binding.configured("pci_dss", "cardholder_data_zones")
	zone := call.safe_label(call.network_zone)
	not call.network_zone in binding.setting("pci_dss", "cardholder_data_zones", [])
}

controls contains "PCI DSS Req 7.1" if cardholder_data.request

# What this topic compares a tool's name with (see giru.decision.tool_names).
tool_names := {"server": false, "exact": object.keys(binding.setting("pci_dss", "tool_job_requirements", {}))}

# How the arguments and the clock change this topic's contributions (see giru.decision.fast_plan).
arguments_guard := {}
