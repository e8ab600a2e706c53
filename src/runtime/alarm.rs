//! The sweep alarm's storage calls. The room decides when an alarm must exist
//! (`Outbound::ArmAlarm` / `DisarmAlarm`); this only carries it out, and tells a restored room
//! what is set (`getAlarm()`).
//!
//! Writes pass `{allowUnconfirmed: true}`: the alarm is bookkeeping, so its write must not hold
//! the object's outgoing messages (the join's response, relays) behind the storage commit, which
//! is what the output gate does for ordinary writes. They are also issued in a task of their own
//! (`glue::arm_alarm`, a zero-delay timer), after the event that asked has answered: workerd
//! schedules an alarm for an object whose class has an `alarm()` handler at the end of the
//! turn that wrote it, and under Miniflare a join that set one waited for that: the second join
//! into a room (the one that arms the sweep) took about twice as long as a join that set none.
//! Timers of one delay fire in the order they were set, so a delete followed by a set reaches
//! storage in that order.

use worker::{State, Storage};

use super::glue;

/// Sets the object's alarm for `at_ms` (replacing any other), or deletes it (`None`).
pub fn arm(state: &State, at_ms: Option<u64>) {
    glue::arm_alarm(state.storage().as_raw().as_ref(), at_ms.map(|at| at as f64));
}

/// When the alarm is set for, if it is: asked once after a restore, on the join path.
pub async fn get(storage: &Storage) -> worker::Result<Option<u64>> {
    Ok(storage.get_alarm().await?.map(|at| at.max(0) as u64))
}
