//! A chunk's rare parts found in its JSON text without building values: an object's
//! members and an array's items as raw text (what `json.loads` then reads, on the consumer's
//! side), and how deep a text nests and its longest integer. Nothing here allocates per value read past.

use std::borrow::Cow;
use std::sync::atomic::{AtomicUsize, Ordering};

use serde::de::{MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer};
use serde_json::value::RawValue;
use serde_json::Value;

use crate::json_tape::{hex4, simple_escape};

/// The deepest a chunk may nest (`[`/`{` levels from its top): serde's own bound for its
/// trees, kept for chunks whose rare parts are read later by `json.loads` on the
/// consumer's stack (which refuses past Python's recursion limit, whatever is on it).
pub const MAX_DEPTH: usize = 128;

/// A member's name, borrowed from the text when it has no escapes.
#[derive(Deserialize)]
struct Key<'a>(#[serde(borrow)] Cow<'a, str>);

/// A member's name as bytes: one with a lone surrogate (no UTF-8 form; `json.loads` keeps
/// it) is read, not refused, and equals no name of ours.
struct KeyBytes<'a>(Cow<'a, [u8]>);

impl<'de> Deserialize<'de> for KeyBytes<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Of;
        impl<'de> Visitor<'de> for Of {
            type Value = KeyBytes<'de>;

            fn expecting(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                formatter.write_str("a member's name")
            }

            fn visit_borrowed_bytes<E>(self, bytes: &'de [u8]) -> Result<Self::Value, E> {
                Ok(KeyBytes(Cow::Borrowed(bytes)))
            }

            fn visit_bytes<E>(self, bytes: &[u8]) -> Result<Self::Value, E> {
                Ok(KeyBytes(Cow::Owned(bytes.to_vec())))
            }

            fn visit_borrowed_str<E>(self, text: &'de str) -> Result<Self::Value, E> {
                Ok(KeyBytes(Cow::Borrowed(text.as_bytes())))
            }

            fn visit_str<E>(self, text: &str) -> Result<Self::Value, E> {
                Ok(KeyBytes(Cow::Owned(text.as_bytes().to_vec())))
            }
        }
        deserializer.deserialize_bytes(Of)
    }
}

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
/// One pass, nothing collected.
pub fn member<'a>(text: &'a str, name: &str) -> Option<&'a RawValue> {
    struct Last<'n>(&'n str);
    impl<'de> Visitor<'de> for Last<'_> {
        type Value = Option<&'de RawValue>;

        fn expecting(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            formatter.write_str("a JSON object")
        }

        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            let mut found = None;
            while let Some(KeyBytes(key)) = map.next_key()? {
                let value: &'de RawValue = map.next_value()?;
                if *key == *self.0.as_bytes() {
                    found = Some(value);
                }
            }
            Ok(found)
        }
    }
    let mut deserializer = serde_json::Deserializer::from_str(text);
    let found = deserializer.deserialize_map(Last(name)).ok()?;
    deserializer.end().ok().and(found)
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
        None => match lossy_string(text) {
            Some(decoded) => Value::String(decoded),
            None => Value::String(text.to_owned()),
        },
    }
}

/// JSON string literal `text` decoded, a lone surrogate as U+FFFD (it has no UTF-8 form);
/// `None` when `text` is no string literal.
fn lossy_string(text: &str) -> Option<String> {
    let inner = text.strip_prefix('"')?.strip_suffix('"')?;
    let bytes = inner.as_bytes();
    let mut decoded = String::with_capacity(inner.len());
    let mut at = 0;
    while at < bytes.len() {
        let plain = bytes[at..]
            .iter()
            .position(|&byte| byte == b'\\')
            .map_or(bytes.len(), |offset| at + offset);
        decoded.push_str(inner.get(at..plain)?);
        at = plain;
        if at == bytes.len() {
            break;
        }
        let kind = *bytes.get(at + 1)?;
        if kind != b'u' {
            decoded.push(simple_escape(kind)?);
            at += 2;
            continue;
        }
        let unit = hex4(bytes.get(at + 2..)?)?;
        at += 6;
        let low = (bytes.get(at..at + 2) == Some(b"\\u"))
            .then(|| bytes.get(at + 2..).and_then(hex4))
            .flatten()
            .filter(|low| (0xDC00..0xE000).contains(low));
        let code = match (unit, low) {
            (0xD800..=0xDBFF, Some(low)) => {
                at += 6;
                0x10000 + ((unit - 0xD800) << 10) + (low - 0xDC00)
            }
            _ => unit,
        };
        decoded.push(char::from_u32(code).unwrap_or(char::REPLACEMENT_CHARACTER));
    }
    Some(decoded)
}

/// The most digits an integer literal in a chunk may have: what `json.loads` turns into
/// an `int` (Python's `sys.get_int_max_str_digits()`, read when the native module loads
/// and at each stream's start; 4300, CPython's default, until then). A longer one
/// would make `json.loads` raise on the consumer's side, so the core refuses the chunk.
static INT_MAX_DIGITS: AtomicUsize = AtomicUsize::new(4300);

/// Sets [`int_max_digits`] (0: no limit, as Python's 0 means).
pub fn set_int_max_digits(digits: usize) {
    let digits = if digits == 0 { usize::MAX } else { digits };
    INT_MAX_DIGITS.store(digits, Ordering::Relaxed);
}

/// The most digits an integer literal in a chunk may have.
pub fn int_max_digits() -> usize {
    INT_MAX_DIGITS.load(Ordering::Relaxed)
}

/// What [`shape`] finds in a valid JSON text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Shape {
    /// How deep it nests (`[`/`{` levels).
    pub depth: usize,
    /// The most digits of an integer literal in it (a number with no fraction and no
    /// exponent: what `json.loads` reads as an `int`); its sign not counted.
    pub longest_integer: usize,
}

/// How deep valid JSON `text` nests and its longest integer literal, strings skipped, in
/// one walk.
pub fn shape(text: &str) -> Shape {
    let mut shape = Shape::default();
    let (mut depth, mut in_string, mut escaped) = (0usize, false, false);
    // Inside a number: its integer digits so far, and whether a fraction or exponent began.
    let (mut in_number, mut digits, mut float) = (false, 0usize, false);
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
        if in_number {
            match byte {
                b'0'..=b'9' if !float => {
                    digits += 1;
                    continue;
                }
                b'0'..=b'9' | b'+' | b'-' => continue,
                b'.' | b'e' | b'E' => {
                    float = true;
                    continue;
                }
                _ => {
                    in_number = false;
                    if !float {
                        shape.longest_integer = shape.longest_integer.max(digits);
                    }
                }
            }
        }
        match byte {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                shape.depth = shape.depth.max(depth);
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            b'-' | b'0'..=b'9' => {
                in_number = true;
                float = false;
                digits = usize::from(byte != b'-');
            }
            _ => {}
        }
    }
    if in_number && !float {
        shape.longest_integer = shape.longest_integer.max(digits);
    }
    shape
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
        let odd_name = r#"{"\ud800":1,"content":[1],"a\u0062":2}"#;
        assert_eq!(member(odd_name, "content").unwrap().get(), "[1]");
        assert_eq!(member(odd_name, "ab").unwrap().get(), "2");
        assert!(member(odd_name, "\u{fffd}").is_none());
        let b = member(text, "b\n").unwrap().get();
        assert_eq!(member(b, "c").unwrap().get(), r#"[1e400,"\ud800"]"#);
        assert_eq!(item(r#"[1e400,"\ud800"]"#, 1).unwrap().get(), r#""\ud800""#);
        assert!(item("[1]", 1).is_none() && item("{}", 0).is_none());
        assert!(member("[1]", "a").is_none() && member(text, "z").is_none());
        assert_eq!(items("[ 1 , {} ]").unwrap().len(), 2);
        assert_eq!(shape(r#"{"a":"[[[{\"","b":[{}]}"#).depth, 3);
        assert_eq!(shape("1").depth, 0);
        let longest = |text: &str| shape(text).longest_integer;
        assert_eq!(longest(r#"[-12345,1.5e300,123456789e1,"99999999",0]"#), 5);
        assert_eq!(longest(r#"{"a":-1234567}"#), 7);
        assert_eq!(longest("123"), 3);
        assert_eq!(longest(r#"[true,false,null,1E5,2.25]"#), 0);
        assert_eq!(
            lenient_tree(r#"{"code":502,"m":{"n":[1e400,2]},"s":"\ud800"}"#),
            serde_json::json!({"code":502,"m":{"n":["1e400",2]},"s":"\u{fffd}"})
        );
        // A message with a lone surrogate is its text, lossily: not its JSON quoted.
        assert_eq!(
            lenient_tree(r#""a\ud800 b\"\n\ud83d\ude00\u00e9\udc00""#),
            serde_json::json!("a\u{fffd} b\"\n\u{1f600}\u{e9}\u{fffd}")
        );
        assert_eq!(
            lenient_tree(r#""\ud800\ud800""#),
            serde_json::json!("\u{fffd}\u{fffd}")
        );
    }
}
