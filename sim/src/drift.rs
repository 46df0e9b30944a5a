//! Serialization drift, a knob: a Zoom that renders the same events differently from one day to
//! the next. With `SimConfig::drift_serialization` on, report pages show each stored event with its
//! top-level keys in reverse order and one extra unknown field, `"drift_field":true`, at the end;
//! every value keeps its stored bytes. The store itself is untouched, so switching the knob off
//! brings the stored bytes back.

use std::fmt;

use serde::Deserialize;
use serde::de::{Deserializer, MapAccess, Visitor};
use serde_json::value::RawValue;

/// The unknown field a drifted event gains.
pub(crate) const DRIFT_FIELD: &str = r#""drift_field":true"#;

/// A stored event as it shows under drift; the stored bytes if it is not a JSON object.
pub(crate) fn render(raw: &str) -> String {
    let Ok(Fields(fields)) = serde_json::from_str::<Fields>(raw) else {
        return raw.to_owned();
    };
    let mut out = String::with_capacity(raw.len() + DRIFT_FIELD.len() + 2);
    out.push('{');
    for (key, value) in fields.iter().rev() {
        out.push_str(&serde_json::to_string(key).expect("a string serializes"));
        out.push(':');
        out.push_str(value.get());
        out.push(',');
    }
    out.push_str(DRIFT_FIELD);
    out.push('}');
    out
}

/// A JSON object's top-level fields in their stored order, each value as its stored text.
struct Fields(Vec<(String, Box<RawValue>)>);

impl<'de> Deserialize<'de> for Fields {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Fields, D::Error> {
        struct InOrder;
        impl<'de> Visitor<'de> for InOrder {
            type Value = Fields;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Fields, A::Error> {
                let mut fields = Vec::new();
                while let Some(field) = map.next_entry()? {
                    fields.push(field);
                }
                Ok(Fields(fields))
            }
        }
        deserializer.deserialize_map(InOrder)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_reverse_values_keep_their_bytes_and_a_field_is_added() {
        let raw =
            r#"{"time":"2026-11-29T16:48:05Z", "operator":"a@b.c","action":"Update","n":1.50}"#;
        assert_eq!(
            render(raw),
            r#"{"n":1.50,"action":"Update","operator":"a@b.c","time":"2026-11-29T16:48:05Z","drift_field":true}"#
        );
        let nested = r#"{"a":{"z":1,"y":[2, 3]},"b":"x  y"}"#;
        assert_eq!(
            render(nested),
            r#"{"b":"x  y","a":{"z":1,"y":[2, 3]},"drift_field":true}"#
        );
    }
}
