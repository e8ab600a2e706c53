//! A JSON object read only as far as routing needs, shared by the codecs whose frames are
//! objects (v1, y-webrtc): its members in order, each value left as the raw text it arrived as,
//! so payloads are forwarded byte for byte and never re-encoded.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::Deserialize;
use serde_json::value::RawValue;

use super::FrameError;

/// An object member name. Borrowed from the frame when it had no escapes (so its text is its
/// JSON form), owned and unescaped when it had: `"fr\u006fm"` is the member `from`, and is
/// treated as such.
#[derive(Debug, PartialEq)]
pub(super) struct Key<'a>(pub Cow<'a, str>);

impl Key<'_> {
    pub fn write_json(&self, out: &mut String) {
        match &self.0 {
            Cow::Borrowed(s) => {
                out.push('"');
                out.push_str(s);
                out.push('"');
            }
            Cow::Owned(s) => {
                out.push_str(&serde_json::to_string(s).expect("a string always serializes"))
            }
        }
    }
}

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl<'de> Visitor<'de> for KeyVisitor {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a member name")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Key(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Key(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
                Ok(Key(Cow::Owned(v)))
            }
        }
        d.deserialize_str(KeyVisitor)
    }
}

/// The members of an object, in order.
pub(super) type Fields<'a> = Vec<(Key<'a>, &'a RawValue)>;

/// Whether two objects have the same members, in the same order, with the same raw values.
pub(super) fn same_members(a: &Fields<'_>, b: &Fields<'_>) -> bool {
    a.len() == b.len()
        && a.iter()
            .zip(b)
            .all(|((k1, v1), (k2, v2))| k1 == k2 && v1.get() == v2.get())
}

/// A JSON object's members in order, values left as raw text.
struct RawObject<'a>(Fields<'a>);

impl<'de> Deserialize<'de> for RawObject<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct ObjectVisitor;
        impl<'de> Visitor<'de> for ObjectVisitor {
            type Value = RawObject<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut fields = Vec::with_capacity(map.size_hint().unwrap_or(4));
                while let Some(key) = map.next_key::<Key<'de>>()? {
                    let value: &'de RawValue = map.next_value()?;
                    fields.push((key, value));
                }
                Ok(RawObject(fields))
            }
        }
        d.deserialize_map(ObjectVisitor)
    }
}

/// Reads `text` as one JSON object.
pub(super) fn object(text: &str) -> Result<Fields<'_>, FrameError> {
    let object: RawObject<'_> = serde_json::from_str(text).map_err(|e| {
        if e.is_data() {
            FrameError::NotAnObject
        } else {
            FrameError::NotJson(e.to_string())
        }
    })?;
    Ok(object.0)
}

/// The value of member `name`, which must appear at most once.
pub(super) fn member<'a>(
    fields: &[(Key<'_>, &'a RawValue)],
    name: &'static str,
) -> Result<Option<&'a RawValue>, FrameError> {
    let mut found = None;
    for (key, value) in fields {
        if key.0 == name {
            if found.is_some() {
                return Err(FrameError::Repeated(name));
            }
            found = Some(*value);
        }
    }
    Ok(found)
}

pub(super) fn required_present<'a>(
    fields: &[(Key<'_>, &'a RawValue)],
    name: &'static str,
) -> Result<&'a RawValue, FrameError> {
    member(fields, name)?.ok_or(FrameError::Missing(name))
}

pub(super) fn required_string(
    fields: &[(Key<'_>, &RawValue)],
    name: &'static str,
) -> Result<String, FrameError> {
    let raw = required_present(fields, name)?;
    serde_json::from_str(raw.get()).map_err(|_| FrameError::NotAString(name))
}

/// Checks that member `name` is a string without decoding it: a raw value is valid JSON, so it
/// is a string exactly when it starts with a quote. (The SDP is most of an offer's bytes, and
/// is forwarded as the raw text it arrived as: decoding it would only be thrown away.)
pub(super) fn require_string(
    fields: &[(Key<'_>, &RawValue)],
    name: &'static str,
) -> Result<(), FrameError> {
    if required_present(fields, name)?.get().starts_with('"') {
        Ok(())
    } else {
        Err(FrameError::NotAString(name))
    }
}

pub(super) fn optional_string(
    fields: &[(Key<'_>, &RawValue)],
    name: &'static str,
) -> Result<Option<String>, FrameError> {
    member(fields, name)?
        .map(|raw| serde_json::from_str(raw.get()).map_err(|_| FrameError::NotAString(name)))
        .transpose()
}

/// `fields` as an object again, members in their order and values as they came, without the
/// member `drop`, then `suffix` (which closes the object: `,"name":value}`). For a frame whose
/// client sent a member the server stamps.
pub(super) fn rebuild_without(fields: &Fields<'_>, drop: &str, suffix: &str) -> String {
    let len: usize = fields
        .iter()
        .map(|(k, v)| k.0.len() + v.get().len() + 4)
        .sum();
    let mut out = String::with_capacity(len + suffix.len() + 2);
    out.push('{');
    for (key, value) in fields {
        if key.0 == drop {
            continue;
        }
        key.write_json(&mut out);
        out.push(':');
        out.push_str(value.get());
        out.push(',');
    }
    // The suffix starts with a comma: drop the one after the last member, or the brace's own
    // place when no member is left.
    match out.pop() {
        Some(',') => {}
        Some(c) => out.push(c),
        None => {}
    }
    if out == "{" {
        out.push_str(suffix.trim_start_matches(','));
    } else {
        out.push_str(suffix);
    }
    out
}
