//! A Godot-free picture of a `Variant`, so option and configuration conversion can be
//! unit-tested without Godot. The glue converts `Dictionary`/`Array` contents into this once,
//! during the call (Godot dictionaries are shared and may be mutated afterwards).

/// One value read out of a Godot `Variant`.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Nil,
    Bool(bool),
    Int(i64),
    Float(f64),
    /// `String` or `StringName`.
    Str(String),
    Array(Vec<Value>),
    /// Entries in the dictionary's order. Non-string keys are kept as their display text.
    Dict(Vec<(String, Value)>),
    /// Any other Variant type, by its Godot type name (e.g. `"Vector2"`).
    Other(String),
}

impl Value {
    /// The Godot type name, for error messages ("must be an int, got String").
    pub fn type_name(&self) -> &str {
        match self {
            Value::Nil => "null",
            Value::Bool(_) => "bool",
            Value::Int(_) => "int",
            Value::Float(_) => "float",
            Value::Str(_) => "String",
            Value::Array(_) => "Array",
            Value::Dict(_) => "Dictionary",
            Value::Other(name) => name,
        }
    }
}

/// Looks a key up in dictionary entries (exact, case-sensitive, like GDScript).
pub fn lookup<'a>(entries: &'a [(String, Value)], key: &str) -> Option<&'a Value> {
    entries.iter().find(|(k, _)| k == key).map(|(_, v)| v)
}
