//! The sweep alarm's storage calls. The room decides when an alarm must exist
//! (`Outbound::ArmSweep` / `DisarmSweep`); this only carries it out, and tells a restored room
//! what is set (`getAlarm()`).
//!
//! Writes pass `{allowUnconfirmed: true}`: the alarm is bookkeeping, so its write must not hold
//! the object's outgoing messages (the join's response, relays) behind the storage commit, which
//! is what the output gate does for ordinary writes. (`worker`'s `SetAlarmOptions` serializes
//! its fields in snake_case, which the runtime ignores; hence the raw calls.) Each call is
//! issued at once, in the order the room asked, and awaited in the background: a delete
//! followed by a set reaches storage in that order.

use worker::wasm_bindgen_futures::{spawn_local, JsFuture};
use worker::{console_error, js_sys, Storage};

fn unconfirmed() -> js_sys::Object {
    let options = js_sys::Object::new();
    let _ = js_sys::Reflect::set(&options, &"allowUnconfirmed".into(), &true.into());
    options
}

/// Awaits a storage call's promise in the background, logging a failure.
fn settle(what: &'static str, promise: Result<js_sys::Promise, wasm_bindgen::JsValue>) {
    match promise {
        Ok(promise) => spawn_local(async move {
            if let Err(e) = JsFuture::from(promise).await {
                console_error!("could not {what} the sweep alarm: {e:?}");
            }
        }),
        Err(e) => console_error!("could not {what} the sweep alarm: {e:?}"),
    }
}

/// Sets the alarm for `at_ms` (replacing any other).
pub fn set(storage: &Storage, at_ms: u64) {
    let at = js_sys::Date::new(&(at_ms as f64).into());
    settle("set", storage.as_raw().set_alarm(at, unconfirmed()));
}

/// Deletes the alarm, if any.
pub fn delete(storage: &Storage) {
    settle("delete", storage.as_raw().delete_alarm(unconfirmed()));
}

/// When the alarm is set for, if it is: asked once after a restore, on the join path.
pub async fn get(storage: &Storage) -> worker::Result<Option<u64>> {
    Ok(storage.get_alarm().await?.map(|at| at.max(0) as u64))
}
