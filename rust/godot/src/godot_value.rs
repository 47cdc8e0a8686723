//! Reads Godot `Variant`s into the Godot-free [`Value`] (during the call: dictionaries are
//! shared and may be mutated by the caller afterwards).

use crate::value::Value;
use godot::builtin::{
    AnyArray, AnyDictionary, GString, StringName, VarArray, VarDictionary, Variant, VariantType,
};
use godot::global::type_string;
use godot::meta::ToGodot;
use godot::obj::EngineEnum;

/// Nesting deeper than this is reported as an unsupported value (guards self-containing arrays).
const MAX_DEPTH: u32 = 16;

/// The entries of a dictionary, keys as text.
pub fn dict_entries(dict: &VarDictionary) -> Vec<(String, Value)> {
    dict.iter_shared()
        .map(|(k, v)| (key_text(&k), convert(&v, 1)))
        .collect()
}

fn key_text(k: &Variant) -> String {
    match k.get_type() {
        VariantType::STRING => k
            .try_to::<GString>()
            .map(|s| s.to_string())
            .unwrap_or_default(),
        VariantType::STRING_NAME => k
            .try_to::<StringName>()
            .map(|s| s.to_string())
            .unwrap_or_default(),
        _ => k.stringify().to_string(),
    }
}

fn convert(v: &Variant, depth: u32) -> Value {
    let ty = v.get_type();
    let other = || Value::Other(type_string(ty.ord() as i64).to_string());
    match ty {
        VariantType::NIL => Value::Nil,
        VariantType::BOOL => v
            .try_to::<bool>()
            .map(Value::Bool)
            .unwrap_or_else(|_| other()),
        VariantType::INT => v
            .try_to::<i64>()
            .map(Value::Int)
            .unwrap_or_else(|_| other()),
        VariantType::FLOAT => v
            .try_to::<f64>()
            .map(Value::Float)
            .unwrap_or_else(|_| other()),
        VariantType::STRING => v
            .try_to::<GString>()
            .map(|s| Value::Str(s.to_string()))
            .unwrap_or_else(|_| other()),
        VariantType::STRING_NAME => v
            .try_to::<StringName>()
            .map(|s| Value::Str(s.to_string()))
            .unwrap_or_else(|_| other()),
        VariantType::ARRAY if depth < MAX_DEPTH => match v.try_to::<AnyArray>() {
            Ok(array) => Value::Array(
                array
                    .iter_shared()
                    .map(|item| convert(&item, depth + 1))
                    .collect(),
            ),
            Err(_) => other(),
        },
        VariantType::DICTIONARY if depth < MAX_DEPTH => match v.try_to::<AnyDictionary>() {
            Ok(dict) => Value::Dict(
                dict.iter_shared()
                    .map(|(k, item)| (key_text(&k), convert(&item, depth + 1)))
                    .collect(),
            ),
            Err(_) => other(),
        },
        _ => other(),
    }
}

/// Builds the Godot value for a [`Value`] (dictionaries keep their order; `Other` is `null`).
pub fn to_variant(v: &Value) -> Variant {
    match v {
        Value::Nil | Value::Other(_) => Variant::nil(),
        Value::Bool(b) => b.to_variant(),
        Value::Int(i) => i.to_variant(),
        Value::Float(f) => f.to_variant(),
        Value::Str(s) => GString::from(s.as_str()).to_variant(),
        Value::Array(items) => {
            let mut array = VarArray::new();
            for item in items {
                array.push(&to_variant(item));
            }
            array.to_variant()
        }
        Value::Dict(entries) => to_dictionary(entries).to_variant(),
    }
}

/// Builds a Godot dictionary with string keys from entries.
pub fn to_dictionary(entries: &[(String, Value)]) -> VarDictionary {
    let mut dict = VarDictionary::new();
    for (key, value) in entries {
        dict.set(
            &GString::from(key.as_str()).to_variant(),
            &to_variant(value),
        );
    }
    dict
}
