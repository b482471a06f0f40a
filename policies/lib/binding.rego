# Binding access: which packs apply to the call and each pack's settings.
# Giru deep-merges each pack's default data (policies/<pack>/data.json) with every matching
# `kind: Policy` spec.data.<pack> into data.giru.bindings[<key>]; pack rules read settings only
# through setting/3, never from data.<pack>, so the shipped defaults are not OPA data.
package giru.lib.binding

# The binding key of the call ("" when the input has none).
key := object.get(input, "binding", "")

# The call names a binding that exists (the decision denies otherwise: fail closed).
known if data.giru.bindings[key]

# Packs enabled for the call: those the binding lists, and core always.
packs contains "core"

packs contains pack if some pack in data.giru.bindings[key].packs

# The settings of every pack of the binding. Only this binding's data is read (once per query),
# never all of data.giru.bindings, so evaluation does not grow with the number of bindings.
default settings := {}

settings := data.giru.bindings[key].data

# setting(pack, name, fallback): the pack's setting name, or fallback when unset.
setting(pack, name, fallback) := object.get(settings, [pack, name], fallback)

# setting_at(pack, path, fallback): the pack's setting at path (a list of keys), or fallback.
setting_at(pack, path, fallback) := object.get(settings, array.concat([pack], path), fallback)

# configured(pack, name): the setting is a non-empty list, set or object.
configured(pack, name) if count(setting(pack, name, [])) > 0
