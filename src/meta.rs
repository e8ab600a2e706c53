//! Peer metadata (control v1, section 1): a JSON object a peer carries and the others see (a
//! name, an avatar), from the join token's `meta` claim on a signed deployment, else the
//! upgrade's `?meta=`. At most [`META_MAX_BYTES`] in its compact form; `{}` is no metadata.

use std::fmt;

use serde::ser::{Serialize, SerializeMap, Serializer};
use serde_json::value::RawValue;

/// The most bytes of a peer's metadata, as the server writes it (compact JSON).
pub const META_MAX_BYTES: usize = 1024;

/// A peer's metadata: a JSON object in compact form, never `{}`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Meta(String);

/// Why a `meta` was refused (the message of the HTTP 400).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BadMeta {
    NotAnObject,
    TooBig(usize),
}

impl fmt::Display for BadMeta {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BadMeta::NotAnObject => f.write_str("`meta` must be a JSON object"),
            BadMeta::TooBig(n) => write!(
                f,
                "`meta` is {n} bytes as compact JSON; at most {META_MAX_BYTES}"
            ),
        }
    }
}

impl Meta {
    /// `text` as metadata: `None` for `{}`.
    pub fn parse(text: &str) -> Result<Option<Meta>, BadMeta> {
        let raw: &RawValue = serde_json::from_str(text).map_err(|_| BadMeta::NotAnObject)?;
        if !raw.get().starts_with('{') {
            return Err(BadMeta::NotAnObject);
        }
        let compact = compact(raw.get());
        match compact.len() {
            2 => Ok(None), // "{}"
            n if n > META_MAX_BYTES => Err(BadMeta::TooBig(n)),
            _ => Ok(Some(Meta(compact))),
        }
    }

    /// A value read back from what [`Meta::as_str`] gave (an attachment, a handoff): checked
    /// again, as nothing read from outside this code is trusted.
    pub fn restore(text: &str) -> Option<Meta> {
        Meta::parse(text).ok().flatten()
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The metadata as JSON text to embed (an attachment).
    pub fn to_json(&self) -> crate::json::Json {
        crate::json::Json::parse(&self.0).expect("checked JSON")
    }
}

impl Serialize for Meta {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        // Checked JSON, written as it is.
        let raw: &RawValue = serde_json::from_str(&self.0).map_err(serde::ser::Error::custom)?;
        raw.serialize(s)
    }
}

/// The `meta` of `welcome`: each listed peer's metadata, by id `K` (`{}` when none has any).
/// Generic in the id, so this module needs nothing of `protocol`, which uses it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MetaOf<K>(pub Vec<(K, Meta)>);

impl<K> Default for MetaOf<K> {
    fn default() -> Self {
        MetaOf(Vec::new())
    }
}

impl<K: Serialize> Serialize for MetaOf<K> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(self.0.len()))?;
        for (peer, meta) in &self.0 {
            map.serialize_entry(peer, meta)?;
        }
        map.end()
    }
}

/// Valid JSON without the whitespace between its tokens (strings kept byte for byte).
fn compact(json: &str) -> String {
    let mut out = String::with_capacity(json.len());
    let (mut in_string, mut escaped) = (false, false);
    for c in json.chars() {
        if in_string {
            out.push(c);
            match c {
                _ if escaped => escaped = false,
                '\\' => escaped = true,
                '"' => in_string = false,
                _ => {}
            }
        } else if c == '"' {
            in_string = true;
            out.push(c);
        } else if !matches!(c, ' ' | '\t' | '\n' | '\r') {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn objects_are_kept_compact_and_empty_ones_are_none() {
        let m = Meta::parse(r#" { "name" : "Ada \" L", "tags": [ 1, 2 ] } "#).unwrap();
        assert_eq!(m.unwrap().as_str(), r#"{"name":"Ada \" L","tags":[1,2]}"#);
        assert_eq!(Meta::parse("{}"), Ok(None));
        assert_eq!(Meta::parse(" { } "), Ok(None));
        // Spaces inside strings stay.
        let m = Meta::parse(r#"{"a b":"c  d\\"}"#).unwrap().unwrap();
        assert_eq!(m.as_str(), r#"{"a b":"c  d\\"}"#);
    }

    #[test]
    fn anything_but_an_object_is_refused() {
        for bad in ["", "null", "[]", "\"x\"", "1", "{", "{\"a\":}", "{} {}"] {
            assert_eq!(Meta::parse(bad), Err(BadMeta::NotAnObject), "{bad:?}");
        }
    }

    #[test]
    fn the_limit_is_on_the_compact_form() {
        let fits = format!(r#"{{"n":"{}"}}"#, "x".repeat(META_MAX_BYTES - 8));
        assert_eq!(fits.len(), META_MAX_BYTES);
        assert!(Meta::parse(&fits).unwrap().is_some());
        // The same with spaces around it still fits: they are not counted.
        assert!(Meta::parse(&format!("  {fits}  ")).unwrap().is_some());
        let over = format!(r#"{{"n":"{}"}}"#, "x".repeat(META_MAX_BYTES - 7));
        assert_eq!(Meta::parse(&over), Err(BadMeta::TooBig(META_MAX_BYTES + 1)));
    }

    #[test]
    fn welcome_meta_is_an_object_by_id() {
        let m = Meta::parse(r#"{"name":"Bo"}"#).unwrap().unwrap();
        let of = MetaOf(vec![("bob", m)]);
        assert_eq!(
            serde_json::to_string(&of).unwrap(),
            r#"{"bob":{"name":"Bo"}}"#
        );
        assert_eq!(
            serde_json::to_string(&MetaOf::<&str>::default()).unwrap(),
            "{}"
        );
    }
}
