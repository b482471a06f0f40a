package giru.packs.hipaa.phi_test

import data.giru.packs.hipaa.phi
import data.giru.test.fixtures as fx

test_phi_tag_or_tool_name_marks_a_phi_request if {
	phi.request with input as fx.tool("lookup", ["phi"], {})
	phi.request with input as fx.tool("Get_Patient_Chart", [], {})
	phi.request with input as fx.tool("medical_history", [], {})
	not phi.request with input as fx.tool("weather", ["public"], {})
}

test_audit_records_phi_access_and_purpose if {
	phi.audit == {"phi_access": true, "purpose_of_use": "treatment"} with input as fx.tool("lookup", ["phi"], {})
	phi.audit == {"phi_access": false} with input as fx.tool("weather", [], {})
	phi.controls == {"HIPAA 164.312(b)"} with input as fx.tool("lookup", ["phi"], {})
}
