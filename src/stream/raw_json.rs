//! A chunk's rare parts found in its JSON text without building values: an object's
//! members and an array's items as raw text (what `json.loads` then reads, on the consumer's
//! side), and how deep a text nests. Nothing here allocates per value read past.

use std::borrow::Cow;

use serde::de::{MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer};
use serde_json::value::RawValue;
use serde_json::Value;

/// The deepest a chunk may nest (`[`/`{` levels from its top): serde's own bound for its
/// trees, kept for chunks whose rare parts are read later by `json.loads` on the
/// consumer's stack (which refuses past Python's recursion limit, whatever is on it).
pub const MAX_DEPTH: usize = 128;

/// A member's name, borrowed from the text when it has no escapes.
#[derive(Deserialize)]
struct Key<'a>(#[serde(borrow)] Cow<'a, str>);

/// An object's members in order (a repeated name as many times as sent), values as text.
pub struct Members<'a>(pub Vec<(Cow<'a, str>, &'a RawValue)>);

impl<'de> Deserialize<'de> for Members<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Of;
        impl<'de> Visitor<'de> for Of {
            type Value = Members<'de>;

            fn expecting(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                formatter.write_str("a JSON object")
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Members<'de>, A::Error> {
                let mut members = Vec::new();
                while let Some(Key(key)) = map.next_key()? {
                    members.push((key, map.next_value()?));
                }
                Ok(Members(members))
            }
        }
        deserializer.deserialize_map(Of)
    }
}

/// The members of the object `text` is (`None` when it is not one, or a name does not
/// decode: a lone surrogate).
pub fn members(text: &str) -> Option<Vec<(Cow<'_, str>, &RawValue)>> {
    serde_json::from_str::<Members<'_>>(text)
        .ok()
        .map(|Members(members)| members)
}

/// Member `name` of the object `text` is: the last one when repeated (as `json.loads`
/// keeps it); `None` when absent or `text` is no object.
pub fn member<'a>(text: &'a str, name: &str) -> Option<&'a RawValue> {
    members(text)?
        .into_iter()
        .rev()
        .find_map(|(key, value)| (key == name).then_some(value))
}

/// Item `index` of the array `text` is.
pub fn item(text: &str, index: usize) -> Option<&RawValue> {
    struct Nth(usize);
    impl<'de> Visitor<'de> for Nth {
        type Value = Option<&'de RawValue>;

        fn expecting(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            formatter.write_str("a JSON array")
        }

        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
            let mut found = None;
            let mut at = 0;
            while let Some(value) = seq.next_element::<&'de RawValue>()? {
                if at == self.0 {
                    found = Some(value);
                }
                at += 1;
            }
            Ok(found)
        }
    }
    let mut deserializer = serde_json::Deserializer::from_str(text);
    deserializer.deserialize_seq(Nth(index)).ok().flatten()
}

/// The items of the array `text` is (`None` when it is not one).
pub fn items(text: &str) -> Option<Vec<&RawValue>> {
    serde_json::from_str(text).ok()
}

/// JSON `text` as a serde tree for the core's own reading (an in-band error's code and
/// message): a part a tree cannot hold (`1e400`, a lone surrogate) is its text as a string.
pub fn lenient_tree(text: &str) -> Value {
    if let Ok(value) = serde_json::from_str(text) {
        return value;
    }
    if let Some(members) = members(text) {
        let map = members
            .into_iter()
            .map(|(key, value)| (key.into_owned(), lenient_tree(value.get())))
            .collect();
        return Value::Object(map);
    }
    match items(text) {
        Some(items) => Value::Array(
            items
                .into_iter()
                .map(|item| lenient_tree(item.get()))
                .collect(),
        ),
        None => Value::String(text.to_owned()),
    }
}

/// How deep valid JSON `text` nests (`[`/`{` levels), strings skipped.
pub fn depth(text: &str) -> usize {
    let (mut depth, mut deepest, mut in_string, mut escaped) = (0usize, 0, false, false);
    for &byte in text.as_bytes() {
        if in_string {
            match byte {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match byte {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                deepest = deepest.max(depth);
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    deepest
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn members_items_and_depth() {
        let text = r#" {"a":1,"b\n":{"c":[1e400,"\ud800"]},"a":[2, 3] } "#;
        let found = members(text).unwrap();
        let names: Vec<&str> = found.iter().map(|(key, _)| key.as_ref()).collect();
        assert_eq!(names, ["a", "b\n", "a"]);
        assert_eq!(member(text, "a").unwrap().get(), "[2, 3]", "the last one");
        let b = member(text, "b\n").unwrap().get();
        assert_eq!(member(b, "c").unwrap().get(), r#"[1e400,"\ud800"]"#);
        assert_eq!(item(r#"[1e400,"\ud800"]"#, 1).unwrap().get(), r#""\ud800""#);
        assert!(item("[1]", 1).is_none() && item("{}", 0).is_none());
        assert!(member("[1]", "a").is_none() && member(text, "z").is_none());
        assert_eq!(items("[ 1 , {} ]").unwrap().len(), 2);
        assert_eq!(depth(r#"{"a":"[[[{\"","b":[{}]}"#), 3);
        assert_eq!(depth("1"), 0);
        assert_eq!(
            lenient_tree(r#"{"code":502,"m":{"n":[1e400,2]},"s":"\ud800"}"#),
            serde_json::json!({"code":502,"m":{"n":["1e400",2]},"s":"\"\\ud800\""})
        );
    }
}
