//! A room object's webhooks (control v1, section 2): carries out what the outbox
//! (`crate::webhook`) decides. Events are recorded as the room's actions come
//! (`Outbound::Hook`), written with the synchronous storage API before the actions after them,
//! so the output gate holds the `welcome` or the `peer_left` until the event is stored; the
//! object's one alarm wakes it for the next delivery or the sweep, whichever is first; the
//! alarm handler delivers every due event, one at a time, in order.

use std::cell::{Cell, RefCell};

use wasm_bindgen::JsValue;
use worker::wasm_bindgen_futures::JsFuture;
use worker::{console_error, console_log, State};

use super::{alarm, glue, now_ms};
use crate::action::Hook;
use crate::config::WebhookConfig;
use crate::webhook::{self, Outbox, SharedAlarm, Store};

pub struct Webhooks {
    config: WebhookConfig,
    /// The naming fields of this object's events (`"protocol":"v1","room":"r1"`).
    subject: String,
    outbox: RefCell<Outbox>,
    /// The alarm the room's sweep shares with the next delivery.
    alarm: Cell<SharedAlarm>,
    /// A delivery loop is running (the alarm handler's).
    delivering: Cell<bool>,
}

impl Webhooks {
    /// The outbox as this object's storage holds it (read synchronously, at construction), for
    /// a room rebuilt with `present` seated: the departures its sockets could not report (a
    /// restart) are recorded, and with events pending the alarm is set again (its last write
    /// was unconfirmed). `sweep_at`: when a rebuilt room with seats must sweep at the latest.
    pub fn load(
        state: &State,
        config: &WebhookConfig,
        subject: String,
        present: &[&str],
        sweep_at: Option<u64>,
    ) -> Webhooks {
        let storage = state.storage();
        let raw: &JsValue = storage.as_raw().as_ref();
        let mut outbox = match glue::kv_load(raw, webhook::EVENT_PREFIX, webhook::STATE_KEY) {
            Ok(loaded) => {
                let flat = js_sys_array(&loaded.get(1));
                let events = flat
                    .chunks_exact(2)
                    .map(|kv| (kv[0].clone(), kv[1].clone()))
                    .collect();
                Outbox::restore(loaded.get(0).as_string().as_deref(), events)
            }
            Err(e) => {
                console_error!("could not read the webhook outbox: {e:?}");
                Outbox::new()
            }
        };
        let departed = outbox.reconcile(now_ms(), present);
        let reconciled = !departed.is_empty();
        apply(state, departed);
        if !outbox.is_empty() {
            // An object rebuilt with events still to send (after an eviction or a restart).
            console_log!(
                r#"{{"event":"webhooks_restored",{subject},"pending":{}}}"#,
                outbox.len()
            );
        }
        let webhooks = Webhooks {
            config: config.clone(),
            subject,
            outbox: RefCell::new(outbox),
            alarm: Cell::new(SharedAlarm::restored(sweep_at)),
            delivering: Cell::new(false),
        };
        if reconciled || !webhooks.outbox.borrow().is_empty() {
            webhooks.rearm(state);
        }
        webhooks
    }

    /// Records `hook` of `session` and stores it, then keeps the alarm at the next wake.
    pub fn record(&self, state: &State, session: &str, hook: &Hook) {
        let ops = self
            .outbox
            .borrow_mut()
            .record(now_ms(), hook.what(), &self.subject, session);
        apply(state, ops);
        self.rearm(state);
    }

    /// The room's sweep alarm (`None`: it needs none), merged with the next delivery.
    pub fn arm(&self, state: &State, sweep_at: Option<u64>) {
        let mut alarm = self.alarm.get();
        alarm.sweep(sweep_at);
        self.alarm.set(alarm);
        self.rearm(state);
    }

    /// The alarm fired: the room sweeps now and asks again if it still needs to.
    pub fn fired(&self) {
        let mut alarm = self.alarm.get();
        alarm.fired();
        self.alarm.set(alarm);
    }

    fn rearm(&self, state: &State) {
        alarm::arm(state, self.alarm.get().at(&self.outbox.borrow()));
    }

    /// Delivers every due event, in order, one attempt at a time; then sets the alarm for what
    /// is left. Never delays a join: nothing else waits on it.
    pub async fn deliver(&self, state: &State) {
        if self.delivering.replace(true) {
            return;
        }
        loop {
            let Some(delivery) = self.outbox.borrow_mut().begin(now_ms()) else {
                break;
            };
            let timestamp = (now_ms() / 1000).to_string();
            let signature = webhook::signature(
                &self.config.secret,
                &delivery.id,
                timestamp.parse().unwrap_or(0),
                &delivery.body,
            );
            let promise = glue::post_webhook(
                &self.config.url,
                &delivery.id,
                &timestamp,
                &signature,
                &delivery.body,
            );
            let status = JsFuture::from(promise)
                .await
                .ok()
                .and_then(|s| s.as_f64())
                .unwrap_or(0.0) as u16;
            let ops = if (200..300).contains(&status) {
                self.outbox.borrow_mut().delivered(delivery.key, now_ms())
            } else {
                self.outbox.borrow_mut().failed(delivery.key, now_ms())
            };
            apply(state, ops);
        }
        self.delivering.set(false);
        self.rearm(state);
    }
}

/// Carries out the outbox's storage operations, in order.
fn apply(state: &State, ops: Vec<Store>) {
    let storage = state.storage();
    let raw: &JsValue = storage.as_raw().as_ref();
    for op in ops {
        let done = match &op {
            Store::Put { key, value } => glue::kv_put(raw, key, value),
            Store::Delete { key } => glue::kv_delete(raw, key),
        };
        if let Err(e) = done {
            console_error!("could not store a webhook event: {e:?}");
        }
    }
}

/// The strings of a JavaScript array (others skipped).
fn js_sys_array(value: &JsValue) -> Vec<String> {
    let array: &worker::js_sys::Array = wasm_bindgen::JsCast::unchecked_ref(value);
    if !worker::js_sys::Array::is_array(value) {
        return Vec::new();
    }
    array.iter().filter_map(|v| v.as_string()).collect()
}
