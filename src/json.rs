//! JSON text checked once and then handed out as it is (the ICE servers of `welcome` and of the
//! ICE-server endpoints). Shared by the codecs, which write it, and `turn`, which makes it.

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

/// JSON text checked once and then handed out as it is: one `RTCIceServer` entry, or the array
/// of them that `welcome.ice_servers` and the ICE-server endpoints carry. Text rather than a
/// `serde_json::Value`: nothing looks inside after the check, and `Value`'s tree (parse, clone,
/// print, drop) was the largest piece of serde_json in the wasm.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Json(Box<RawValue>);

impl Json {
    /// `text`, which must be one JSON value.
    pub fn parse(text: &str) -> Result<Json, serde_json::Error> {
        serde_json::from_str(text).map(Json)
    }

    /// What `value` serializes to.
    pub fn of(value: &impl Serialize) -> Json {
        Json(serde_json::value::to_raw_value(value).expect("plain structs always serialize"))
    }

    pub fn get(&self) -> &str {
        self.0.get()
    }
}

impl PartialEq for Json {
    fn eq(&self, other: &Json) -> bool {
        self.get() == other.get()
    }
}

/// Equal text is equal JSON here: both sides come from the same writer.
impl Eq for Json {}

impl std::fmt::Display for Json {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.get())
    }
}
