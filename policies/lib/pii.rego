# Detection of personal and cardholder data in values: PAN (Luhn), SSN, e-mail, phone.
# Findings name where the data is (an argument path), never the data itself. Every detector
# runs a cheap guard first: most argument strings hold no digits and no "@".
package giru.lib.pii

# The findings in the call's arguments, once per decision: those Giru found and put in the
# input (input.mcp.argument_findings, a list of findings(...)'s objects, found by
# giru.policy.findings with these detectors), else computed here from input.mcp.arguments
# (inputs made elsewhere: Rego tests, `giru policy eval`, replays of older audit records).
argument_findings := {f | some f in input.mcp.argument_findings} if {
	is_array(input.mcp.argument_findings)
} else := findings(object.get(input, ["mcp", "arguments"], {}))

# findings(value): {"kind": pan|ssn|email|phone, "path": "a.b.0"} for every string or
# number leaf of value (nested objects and arrays included) that holds data of that kind.
findings(value) := {{"kind": kind, "path": label(path)} |
	walk(value, [path, leaf])
	some kind in leaf_kinds(leaf)
}

# paths(value, kind): the argument paths of value holding data of kind.
paths(value, kind) := {f.path | some f in findings(value); f.kind == kind}

# leaf_kinds(leaf): the kinds of sensitive data in a string, or a PAN in a large integer.
leaf_kinds(leaf) := kinds(leaf) if is_string(leaf)

# The digits are format_int(leaf, 10)'s; OPA's Wasm format_int aborts above 32 bits.
leaf_kinds(leaf) := {"pan" | pan(sprintf("%d", [floor(leaf)]))} if {
	is_number(leaf)
	leaf >= 1000000000000
}

# kinds(s): the kinds of sensitive data in the string s.
kinds(s) := {"email" | email(s)} | _digit_kinds(s)

_digit_kinds(s) := ({"pan" | pan(s)} | {"ssn" | ssn(s)}) | {"phone" | phone(s)} if regex.match(`\d`, s)

else := set()

# label(path): a path as "a.b.0" ("" for the value itself).
label(path) := concat(".", [sprintf("%v", [p]) | some p in path])

# pan(s): s contains a full primary account number: 13-19 digits, single spaces or dashes
# between digit groups allowed, Luhn-valid, not all zeros. A digit run that is not itself a
# PAN (a PAN followed by an expiry or CVV) is checked group window by group window.
pan(s) if {
	some run in regex.find_n(`\d(?:[ -]?\d){12,}`, s, -1)
	_pan_run(run)
}

_pan_run(run) if {
	digits := replace(replace(run, " ", ""), "-", "")
	count(digits) <= 19
	luhn(digits)
} else if {
	groups := regex.split(`[ -]`, run)
	last := count(groups) - 1
	some i in numbers.range(0, last)
	some j in numbers.range(i, min([i + 18, last]))
	digits := concat("", array.slice(groups, i, j + 1))
	count(digits) >= 13
	count(digits) <= 19
	luhn(digits)
}

# luhn(digits): the string of digits passes the Luhn (mod 10) check and is not all zeros.
# Read right to left in pairs: _pairs["ab"] is a plus the Luhn-doubled b.
luhn(digits) if {
	regex.match(`[1-9]`, digits)
	pairs := regex.find_n(`..?`, strings.reverse(digits), -1)
	sum([_pairs[p] | some p in pairs]) % 10 == 0
}

_pairs := {
	"0": 0, "1": 1, "2": 2, "3": 3, "4": 4, "5": 5, "6": 6, "7": 7, "8": 8, "9": 9,
	"00": 0, "01": 2, "02": 4, "03": 6, "04": 8, "05": 1, "06": 3, "07": 5, "08": 7, "09": 9,
	"10": 1, "11": 3, "12": 5, "13": 7, "14": 9, "15": 2, "16": 4, "17": 6, "18": 8, "19": 10,
	"20": 2, "21": 4, "22": 6, "23": 8, "24": 10, "25": 3, "26": 5, "27": 7, "28": 9, "29": 11,
	"30": 3, "31": 5, "32": 7, "33": 9, "34": 11, "35": 4, "36": 6, "37": 8, "38": 10, "39": 12,
	"40": 4, "41": 6, "42": 8, "43": 10, "44": 12, "45": 5, "46": 7, "47": 9, "48": 11, "49": 13,
	"50": 5, "51": 7, "52": 9, "53": 11, "54": 13, "55": 6, "56": 8, "57": 10, "58": 12, "59": 14,
	"60": 6, "61": 8, "62": 10, "63": 12, "64": 14, "65": 7, "66": 9, "67": 11, "68": 13, "69": 15,
	"70": 7, "71": 9, "72": 11, "73": 13, "74": 15, "75": 8, "76": 10, "77": 12, "78": 14, "79": 16,
	"80": 8, "81": 10, "82": 12, "83": 14, "84": 16, "85": 9, "86": 11, "87": 13, "88": 15, "89": 17,
	"90": 9, "91": 11, "92": 13, "93": 15, "94": 17, "95": 10, "96": 12, "97": 14, "98": 16, "99": 18,
}

# ssn(s): a US social security number written AAA-GG-SSSS with a valid area, group and serial.
ssn(s) if {
	contains(s, "-")
	regex.match(`\b(?:00[1-9]|0[1-9]\d|[1-578]\d\d|6[0-57-9]\d|66[0-57-9])-(?:0[1-9]|[1-9]\d)-(?:000[1-9]|00[1-9]\d|0[1-9]\d\d|[1-9]\d{3})\b`, s)
}

# email(s): an e-mail address.
email(s) if {
	contains(s, "@")
	regex.match(`[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}`, s)
}

# phone(s): an E.164 number (+ and 8-15 digits, separators allowed) or a NANP number.
phone(s) if regex.match(`(?:^|[^\w+])\+[1-9](?:[ .-]?\d){7,14}\b|(?:\(\d{3}\) ?|\b\d{3}[-. ])\d{3}[-. ]\d{4}\b`, s)
