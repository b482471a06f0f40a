# Accessors over the decision input (docs/policies/input.md) with fail-closed fallbacks.
package giru.lib.call

tool := object.get(input, ["mcp", "tool", "name"], "")

sensitivity := object.get(input, ["mcp", "tool", "sensitivity"], "low")

tags := {tag | some tag in object.get(input, ["mcp", "tool", "tags"], [])}

arguments := object.get(input, ["mcp", "arguments"], {})

user_id := object.get(input, ["context", "user_id"], "")

role := object.get(input, ["context", "user_role"], "")

# A role as shown in messages.
role_label := role if role != ""

else := "(none)"

network_zone := object.get(input, ["context", "network_zone"], "")

# Only a literal true counts: a missing or non-boolean claim is "no".
default authenticated := false

authenticated if input.context.user_authenticated == true

default mfa_verified := false

mfa_verified if input.context.mfa_verified == true

# RFC 8176 authentication methods that are a factor beyond a password.
mfa_methods := {"mfa", "otp", "hwk", "swk", "sms", "fpt", "face", "iris", "sc"}

# A person signed in over OAuth (input.subject): MFA when their sign-in's amr holds one.
mfa_verified if {
	some method in input.subject.amr
	method in mfa_methods
}

# Whether the caller is a person signed in over OAuth (not an API-key client).
person if is_object(input.subject)

# Seconds since the person signed in at their IdP (undefined without auth_time).
session_age_s := (now_ns / 1000000000) - input.subject.auth_time if is_number(input.subject.auth_time)

claim(name) := input.context.claims[name]

# The clock of the call: the request's arrival time (never time.now_ns(), so tests can set it).
now_ns := input.request.time_ns

# The hour (0-23) of the call in the time zone tz ("UTC", "Europe/Berlin", ...).
hour(tz) := time.clock([now_ns, tz])[0]

# within_hours(h, window): window {"start": s, "end": e} in hours; e <= s wraps past midnight.
within_hours(h, window) if {
	window.start < window.end
	h >= window.start
	h < window.end
}

within_hours(h, window) if {
	window.start >= window.end
	h >= window.start
}

within_hours(h, window) if {
	window.start >= window.end
	h < window.end
}

# The connection is encrypted, or a loopback connection that plaintext_loopback allows.
encrypted(_) if input.request.tls == true

encrypted(plaintext_loopback) if {
	plaintext_loopback == true
	input.request.loopback == true
}

# as_set(x): a list or set as a set, any other value as a one-element set.
as_set(x) := {v | some v in x} if is_array(x)

as_set(x) := x if is_set(x)

as_set(x) := {x} if {
	not is_array(x)
	not is_set(x)
}

# quoted(names): 'a', 'b' for messages.
quoted(names) := concat(", ", [sprintf("'%s'", [n]) | some n in sort(as_set(names))])

# safe_label(s): s when it looks like an identifier (1 to 64 of A-Z a-z 0-9 _ . : / -, at most
# 6 digits, so no card, social security or phone number), else a placeholder: messages never
# echo argument values. Without regex: OPA's Wasm compiles an expression on every call, and
# this runs in every deny message naming an argument.
safe_label(s) := s if {
	is_string(s)
	trim(s, _label_characters) == ""
	count(s) >= 1
	count(s) <= 64
	count(s) - count(strings.replace_n(_no_digits, s)) <= 6
}

else := "(unnamed)"

_label_characters := "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.:/-"

_no_digits := {"0": "", "1": "", "2": "", "3": "", "4": "", "5": "", "6": "", "7": "", "8": "", "9": ""}
