//! The webhook outbox of one room's Durable Object (control v1, section 2): which events wait to
//! be sent, which one goes next, and when the object must wake for it.
//!
//! A sans-I/O state machine like [`crate::room`]: no I/O, no clock, no randomness, no `worker`
//! types. The caller records an event when something happens, carries out the [`Store`]
//! operations returned (before the join or departure that caused it is acknowledged to anyone),
//! keeps its alarm at [`Outbox::wake_at`], and whenever it runs asks [`Outbox::begin`] for a
//! delivery, POSTs it signed with [`signature`], and reports the answer:
//!
//! ```text
//!   record(now, what, subject, session) ──┐            ┌──> Vec<Store>  (Puts / Deletes, in order)
//!   delivered(key, now) ──────────────────┼─> Outbox ──┤
//!   failed(key, now) ─────────────────────┘            │
//!   begin(now) ──────────────────────────────────────> ├──> Option<Delivery>  (POST it)
//!   wake_at() ───────────────────────────────────────> └──> Option<u64>  (the alarm)
//! ```
//!
//! Delivery is in order and at least once: one attempt at a time, always of the oldest pending
//! event (the head), and the next only once the head was answered `2xx` or dropped. A failure
//! schedules the head's retry ([`retry_delay`]: 1 s, doubling, at most 5 min); one at or after
//! [`RETRY_FOR_MS`] since the head's first failure drops it. Past [`MAX_PENDING`] the oldest go.
//! Either way the loss is counted, and the next delivery carries the count in `data` as
//! `"dropped": N`.
//!
//! Storage: each event under [`EVENT_PREFIX`] + its counter, zero-padded to 20 digits (so a
//! listing by prefix comes back in record order; the counter never repeats within the object's
//! storage), holding `{"id":"<webhook-id>","body":<body>}`: the body is built once, when the
//! event is recorded, and embedded as raw JSON so every attempt sends the same bytes. One more
//! key, [`STATE_KEY`], holds the rest: the session, its last `seq` and naming fields, the next
//! counter, the count of dropped events, and the head's retry state. Writes stay minimal: a
//! record is the event's Put and the state Put (and Deletes when it pushed old events out); a
//! failure is one state Put; a delivery (or a drop after retries) one Delete and a state Put.
//!
//! What is in flight lives in memory only: an object evicted mid-attempt never hears the answer,
//! so [`Outbox::restore`] takes nothing as in flight and the head is sent again (at least once).
//! The alarm [`Outbox::wake_at`] gives while an attempt is in flight is the safety net that wakes
//! such an object.

use std::collections::VecDeque;
use std::fmt::{self, Write as _};

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use sha2::Sha256;

/// The most undelivered events kept per room (control v1); past it the oldest are dropped.
pub const MAX_PENDING: usize = 1000;
/// The first retry delay, doubling per failed attempt up to [`RETRY_MAX_DELAY_MS`].
pub const RETRY_MIN_DELAY_MS: u64 = 1_000;
/// The longest retry delay ("up to 5 min apart").
pub const RETRY_MAX_DELAY_MS: u64 = 300_000;
/// An event still failing after this long since its first failed attempt is dropped: on the
/// first failure at or after its first failure + this, so it is retried for at least 24 hours.
pub const RETRY_FOR_MS: u64 = 24 * 3600 * 1000;
/// An attempt with no status within this is a failure (the caller's fetch aborts at 5 s).
pub const ATTEMPT_TIMEOUT_MS: u64 = 5_000;
/// How long past [`ATTEMPT_TIMEOUT_MS`] an attempt may go unanswered before the outbox stops
/// waiting for it: the caller reports every aborted fetch well within this, so only an object
/// that lost the attempt (evicted, or a bug) reaches it, and then the head is sent again.
pub const ATTEMPT_MARGIN_MS: u64 = 5_000;
/// The prefix of every event's storage key (list by it to [`Outbox::restore`]).
pub const EVENT_PREFIX: &str = "webhook:event:";
/// The storage key of the outbox's state.
pub const STATE_KEY: &str = "webhook:state";

/// Digits of an event's counter in its key: every `u64` fits, so keys sort as numbers do.
const KEY_DIGITS: usize = 20;

/// The HMAC key of `WEBHOOK_SECRET`. Its `Debug` does not show it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(Vec<u8>);

/// Why a `WEBHOOK_SECRET` was refused (the configuration error's message).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BadSecret {
    /// It does not start with `whsec_`.
    MissingPrefix,
    /// What follows `whsec_` is not standard (padded) base64.
    NotBase64,
    /// What follows `whsec_` decodes to no bytes.
    EmptyKey,
}

impl fmt::Display for BadSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            BadSecret::MissingPrefix => "WEBHOOK_SECRET must start with `whsec_`",
            BadSecret::NotBase64 => "WEBHOOK_SECRET must be `whsec_` followed by standard base64",
            BadSecret::EmptyKey => "WEBHOOK_SECRET holds an empty key after `whsec_`",
        })
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(..)")
    }
}

impl Secret {
    /// `WEBHOOK_SECRET`: `whsec_` + standard base64 of the HMAC key (Standard Webhooks).
    /// Surrounding whitespace (a newline pasted with it) is ignored.
    pub fn parse(text: &str) -> Result<Secret, BadSecret> {
        let encoded = text
            .trim()
            .strip_prefix("whsec_")
            .ok_or(BadSecret::MissingPrefix)?;
        let key = STANDARD.decode(encoded).map_err(|_| BadSecret::NotBase64)?;
        if key.is_empty() {
            return Err(BadSecret::EmptyKey);
        }
        Ok(Secret(key))
    }
}

/// The `webhook-signature` header of an attempt: `v1,` + base64(HMAC-SHA256(key,
/// `{id}.{timestamp}.{body}`)), as the Standard Webhooks specification says. `timestamp_s` is
/// the attempt's time (the `webhook-timestamp` header), not the event's.
pub fn signature(secret: &Secret, id: &str, timestamp_s: u64, body: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(&secret.0).expect("HMAC takes keys of any length");
    mac.update(id.as_bytes());
    mac.update(b".");
    mac.update(timestamp_s.to_string().as_bytes());
    mac.update(b".");
    mac.update(body.as_bytes());
    format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
}

/// What happened in the room (control v1's table of types). `peer` and `reason` are
/// already-valid ids and words; `meta` is compact JSON object text, or `None` when the peer has
/// no metadata.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum What<'a> {
    /// A join opened an empty room: a new session begins.
    RoomStarted { capacity: u32 },
    /// A peer was seated (not on a resume); `peers` is the count after.
    PeerJoined {
        peer: &'a str,
        meta: Option<&'a str>,
        peers: usize,
    },
    /// A peer left for any reason; `peers` is the count after.
    PeerLeft {
        peer: &'a str,
        reason: &'a str,
        peers: usize,
    },
    /// The last peer has left.
    RoomFinished,
}

impl What<'_> {
    fn kind(&self) -> &'static str {
        match self {
            What::RoomStarted { .. } => "room.started",
            What::PeerJoined { .. } => "peer.joined",
            What::PeerLeft { .. } => "peer.left",
            What::RoomFinished => "room.finished",
        }
    }
}

/// A storage operation for the caller to carry out, in the order returned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Store {
    Put { key: String, value: String },
    Delete { key: String },
}

/// One attempt to send: POST `body` with `webhook-id: id`, then report the answer with `key`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Delivery {
    /// The event's counter: what [`Outbox::delivered`] and [`Outbox::failed`] are given back.
    pub key: u64,
    /// The `webhook-id` header: the same on every attempt of the event.
    pub id: String,
    /// The request body: the stored body, with `"dropped"` added to `data` when it carries any.
    pub body: String,
    /// How many dropped events this attempt reports (`0`: none, and no `"dropped"` field).
    pub dropped: u64,
}

/// The webhook outbox of one room: its pending events, oldest first, and the head's retry
/// state. See the module documentation for the order of calls.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Outbox {
    state: State,
    events: VecDeque<Event>,
    in_flight: Option<InFlight>,
}

/// What [`STATE_KEY`] holds. Unknown or missing fields read as their defaults.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
struct State {
    /// The current session's id; `None` before the first event.
    #[serde(skip_serializing_if = "Option::is_none")]
    session: Option<String>,
    /// The last `seq` given in the session.
    seq: u64,
    /// The session's naming fields (a JSON object-body fragment), from its `room.started`: a
    /// woken object does not know its room's name.
    subject: String,
    /// The counter the next event gets.
    next: u64,
    /// Events dropped since the last delivery.
    dropped: u64,
    /// The counter of the event the retry state below belongs to (the head), so a state that
    /// does not match what storage holds is not applied to the wrong event.
    head: u64,
    /// Failed attempts of the head.
    attempts: u32,
    /// When the head first failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    first_failure_ms: Option<u64>,
    /// When the head may be attempted: when it became the head, or its retry time.
    retry_at_ms: u64,
    /// Who is in the room as the session's events tell it, in join order: after a restart
    /// (sockets gone without a close event) [`Outbox::reconcile`] records their departures.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    seated: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct Event {
    key: u64,
    id: String,
    body: String,
}

/// An event's storage value as read back; the body is kept as the exact text stored.
#[derive(Deserialize)]
struct StoredEvent<'a> {
    id: String,
    #[serde(borrow)]
    body: &'a RawValue,
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct InFlight {
    key: u64,
    started_ms: u64,
    /// The `dropped` count the attempt carried: no longer owed once it is delivered.
    carried: u64,
}

impl Outbox {
    /// An outbox with nothing stored.
    pub fn new() -> Outbox {
        Outbox::default()
    }

    /// The outbox rebuilt from storage: [`STATE_KEY`]'s value, if any, and every key under
    /// [`EVENT_PREFIX`] with its value, in any order. Storage is outside input: anything
    /// unreadable is skipped (a bad state reads as none), never a panic. Nothing is in flight.
    pub fn restore(state: Option<&str>, events: Vec<(String, String)>) -> Outbox {
        let mut state: State = state
            .and_then(|text| serde_json::from_str(text).ok())
            .unwrap_or_default();
        // In key order, each once: a listing comes sorted already, so each goes in its place
        // (a sort would link a sort's code for this, as in `Room::restore`).
        let mut sorted: Vec<Event> = Vec::with_capacity(events.len());
        for event in events
            .iter()
            .filter_map(|(key, value)| parse_event(key, value))
        {
            let at = sorted.partition_point(|e| e.key < event.key);
            if sorted.get(at).is_none_or(|e| e.key != event.key) {
                sorted.insert(at, event);
            }
        }
        let events = sorted;
        if let (Some(first), Some(last)) = (events.first(), events.last()) {
            // A counter below what storage holds would overwrite a pending event.
            state.next = state.next.max(last.key.saturating_add(1));
            if state.head != first.key {
                // The retry state is another event's: start the head afresh, due now.
                state.head = first.key;
                state.attempts = 0;
                state.first_failure_ms = None;
                state.retry_at_ms = 0;
            }
        }
        Outbox {
            state,
            events: events.into(),
            in_flight: None,
        }
    }

    /// Records an event that happened at `now_ms`, and returns the storage operations to carry
    /// out now: the event's Put, Deletes of the oldest events when there are more than
    /// [`MAX_PENDING`] (each counted in [`Outbox::dropped`]), then the state's Put.
    ///
    /// `subject` holds the naming fields written first in `data`, as a JSON object-body fragment
    /// (`"protocol":"v1","room":"r1"`). `session` is the event's session (a random id of ASCII
    /// letters and digits: it goes into the `webhook-id` header). [`What::RoomStarted`] starts
    /// a session, and so does an event of a session other than the last one's (a PeerJS id's
    /// next connection, which has no `room.started`): `session` becomes its id, `subject` its
    /// naming fields, and `seq` restarts at 1. Any other event continues the session, with the
    /// subject it started with. An event without a session (`""`: a room rebuilt from
    /// attachments older than sessions) continues the last one, or starts one when none is
    /// known (webhooks turned on while the room was open).
    pub fn record(&mut self, now_ms: u64, what: What, subject: &str, session: &str) -> Vec<Store> {
        let state = &mut self.state;
        let other = !session.is_empty() && state.session.as_deref() != Some(session);
        if matches!(what, What::RoomStarted { .. }) || state.session.is_none() || other {
            let new_session = session;
            state.session = Some(new_session.to_owned());
            state.subject = subject.to_owned();
            state.seq = 0;
        }
        state.seq = state.seq.saturating_add(1);
        match what {
            What::PeerJoined { peer, .. } => state.seated.push(peer.to_owned()),
            What::PeerLeft { peer, .. } => state.seated.retain(|p| p != peer),
            What::RoomStarted { .. } | What::RoomFinished => state.seated.clear(),
        }
        let session = state.session.as_deref().unwrap_or_default();
        let id = format!("evt_{session}_{}", state.seq);
        let body = render(now_ms, what, &state.subject, session, state.seq);
        let key = state.next;
        state.next = key.saturating_add(1);

        let mut ops = vec![Store::Put {
            key: event_key(key),
            value: format!(r#"{{"id":{},"body":{body}}}"#, quote(&id)),
        }];
        self.events.push_back(Event { key, id, body });
        if self.events.len() == 1 {
            self.new_head(now_ms);
        }
        while self.events.len() > MAX_PENDING {
            // The head goes even if it is in flight: its answer then changes little (delivered).
            if let Some(gone) = self.events.pop_front() {
                ops.push(Store::Delete {
                    key: event_key(gone.key),
                });
            }
            self.state.dropped = self.state.dropped.saturating_add(1);
            self.new_head(now_ms);
        }
        ops.push(self.state_put());
        ops
    }

    /// The next attempt to make at `now_ms`, if the head is due and nothing is in flight; it is
    /// then in flight until [`Outbox::delivered`] or [`Outbox::failed`] is called with its key.
    /// Its body is the stored one, with `,"dropped":N` added at the end of `data` when N events
    /// were dropped since the last delivery.
    ///
    /// An attempt unanswered past [`ATTEMPT_TIMEOUT_MS`] + [`ATTEMPT_MARGIN_MS`] is taken as
    /// lost, as [`Outbox::restore`] does: the head is sent again, not counted as failed.
    pub fn begin(&mut self, now_ms: u64) -> Option<Delivery> {
        if let Some(flight) = &self.in_flight {
            if now_ms < attempt_deadline(flight.started_ms) {
                return None;
            }
            self.in_flight = None;
        }
        let head = self.events.front()?;
        if now_ms < self.state.retry_at_ms {
            return None;
        }
        let dropped = self.state.dropped;
        let body = if dropped == 0 {
            head.body.clone()
        } else {
            // `data` is always last: the body ends with its `}` and the outer one.
            let open = &head.body[..head.body.len() - 2];
            format!(r#"{open},"dropped":{dropped}}}}}"#)
        };
        self.in_flight = Some(InFlight {
            key: head.key,
            started_ms: now_ms,
            carried: dropped,
        });
        Some(Delivery {
            key: head.key,
            id: head.id.clone(),
            body,
            dropped,
        })
    }

    /// The attempt of `key` was answered `2xx` at `now_ms`: the event is delivered (its Delete
    /// and the state's Put), and the dropped events it reported are no longer owed. An answer
    /// for anything but the attempt in flight changes nothing.
    pub fn delivered(&mut self, key: u64, now_ms: u64) -> Vec<Store> {
        let Some(flight) = self.take_in_flight(key) else {
            return Vec::new();
        };
        if self.head_key() != Some(key) {
            // Dropped (pushed out) while in flight, yet it arrived: neither it nor what it
            // reported is lost any more, so neither is reported again.
            self.state.dropped = self.state.dropped.saturating_sub(flight.carried + 1);
            return vec![self.state_put()];
        }
        self.events.pop_front();
        self.state.dropped = self.state.dropped.saturating_sub(flight.carried);
        self.new_head(now_ms);
        vec![
            Store::Delete {
                key: event_key(key),
            },
            self.state_put(),
        ]
    }

    /// The attempt of `key` failed at `now_ms` (another status, no status within
    /// [`ATTEMPT_TIMEOUT_MS`], no connection): its retry is scheduled (the state's Put), or,
    /// at or after [`RETRY_FOR_MS`] since its first failure, it is dropped (its Delete and the
    /// state's Put). An answer for anything but the attempt in flight changes nothing (an
    /// event dropped while in flight is already counted).
    pub fn failed(&mut self, key: u64, now_ms: u64) -> Vec<Store> {
        if self.take_in_flight(key).is_none() || self.head_key() != Some(key) {
            return Vec::new();
        }
        let state = &mut self.state;
        state.attempts = state.attempts.saturating_add(1);
        let first = *state.first_failure_ms.get_or_insert(now_ms);
        if now_ms >= first.saturating_add(RETRY_FOR_MS) {
            self.events.pop_front();
            self.state.dropped = self.state.dropped.saturating_add(1);
            self.new_head(now_ms);
            return vec![
                Store::Delete {
                    key: event_key(key),
                },
                self.state_put(),
            ];
        }
        state.retry_at_ms = now_ms.saturating_add(retry_delay(state.attempts));
        vec![self.state_put()]
    }

    /// When the object must wake for this outbox (ms; a time already past means now): `None`
    /// when nothing is pending; while an attempt is in flight, the time [`Outbox::begin`] stops
    /// waiting for its answer (the safety net for an object evicted mid-attempt); otherwise
    /// when the head is due: its retry time, or when it became the head.
    pub fn wake_at(&self) -> Option<u64> {
        if let Some(flight) = &self.in_flight {
            return Some(attempt_deadline(flight.started_ms));
        }
        self.events.front().map(|_| self.state.retry_at_ms)
    }

    /// After the object was rebuilt at `now_ms` with `present` seated: the departures of the
    /// peers the session's events left in the room but who are gone (their sockets went without
    /// a close event: a restart or a deploy), as `peer.left` with reason `disconnect`, then the
    /// session's `room.finished` if nobody is left. An eviction keeps every socket, so it
    /// records nothing. Returns the storage operations, as [`Outbox::record`] does.
    pub fn reconcile(&mut self, now_ms: u64, present: &[&str]) -> Vec<Store> {
        let mut ops = Vec::new();
        let gone: Vec<String> = (self.state.seated.iter())
            .filter(|p| !present.contains(&p.as_str()))
            .cloned()
            .collect();
        for peer in &gone {
            let peers = self.state.seated.len() - 1;
            let left = What::PeerLeft {
                peer,
                reason: "disconnect",
                peers,
            };
            ops.extend(self.record(now_ms, left, "", ""));
        }
        if !gone.is_empty() && self.state.seated.is_empty() {
            ops.extend(self.record(now_ms, What::RoomFinished, "", ""));
        }
        ops
    }

    /// Who is in the room as the session's events tell it.
    pub fn seated(&self) -> &[String] {
        &self.state.seated
    }

    /// Pending (undelivered) events.
    pub fn len(&self) -> usize {
        self.events.len()
    }

    /// Whether no event is pending.
    pub fn is_empty(&self) -> bool {
        self.events.is_empty()
    }

    /// Events dropped since the last delivery: what the next delivery reports.
    pub fn dropped(&self) -> u64 {
        self.state.dropped
    }

    fn head_key(&self) -> Option<u64> {
        self.events.front().map(|e| e.key)
    }

    fn take_in_flight(&mut self, key: u64) -> Option<InFlight> {
        match &self.in_flight {
            Some(flight) if flight.key == key => self.in_flight.take(),
            _ => None,
        }
    }

    /// The head changed at `now_ms` (or the outbox emptied): the new one is due now.
    fn new_head(&mut self, now_ms: u64) {
        let state = &mut self.state;
        state.head = self.events.front().map_or(state.next, |e| e.key);
        state.attempts = 0;
        state.first_failure_ms = None;
        state.retry_at_ms = now_ms;
    }

    fn state_put(&self) -> Store {
        Store::Put {
            key: STATE_KEY.to_owned(),
            value: serde_json::to_string(&self.state).expect("plain structs always serialize"),
        }
    }
}

/// The delay before the retry after the `attempts`-th failed attempt: 1 s, 2 s, 4 s, ...,
/// at most [`RETRY_MAX_DELAY_MS`].
pub fn retry_delay(attempts: u32) -> u64 {
    // 2^9 s already passes the cap; the bound keeps the shift in range.
    let doublings = attempts.saturating_sub(1).min(16);
    (RETRY_MIN_DELAY_MS << doublings).min(RETRY_MAX_DELAY_MS)
}

fn attempt_deadline(started_ms: u64) -> u64 {
    started_ms.saturating_add(ATTEMPT_TIMEOUT_MS + ATTEMPT_MARGIN_MS)
}

fn event_key(key: u64) -> String {
    format!("{EVENT_PREFIX}{key:0KEY_DIGITS$}")
}

/// An event read back from storage, or `None` for anything not written by [`Outbox::record`].
fn parse_event(key: &str, value: &str) -> Option<Event> {
    let digits = key.strip_prefix(EVENT_PREFIX)?;
    // Exactly the written form, so the key string and the counter map one to one.
    if digits.len() != KEY_DIGITS || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let key = digits.parse().ok()?;
    let stored: StoredEvent = serde_json::from_str(value).ok()?;
    let body = stored.body.get();
    // `begin` inserts `dropped` before the closing `}}` of `data` and the body.
    if !body.starts_with('{') || !body.ends_with("}}") {
        return None;
    }
    Some(Event {
        key,
        id: stored.id,
        body: body.to_owned(),
    })
}

/// The event's body: `{"type":..,"timestamp":..,"data":{<subject>,"session":..,"seq":..,..}}`,
/// compact, with `data` last.
fn render(now_ms: u64, what: What, subject: &str, session: &str, seq: u64) -> String {
    let mut data = String::with_capacity(160);
    data.push_str(subject);
    if !subject.is_empty() {
        data.push(',');
    }
    let _ = write!(data, r#""session":{},"seq":{seq}"#, quote(session));
    match what {
        What::RoomStarted { capacity } => {
            let _ = write!(data, r#","capacity":{capacity}"#);
        }
        What::PeerJoined { peer, meta, peers } => {
            let _ = write!(data, r#","peer":{}"#, quote(peer));
            // `{}` is no metadata (control v1, section 1): absent everywhere.
            if let Some(meta) = meta.filter(|m| *m != "{}") {
                let _ = write!(data, r#","meta":{meta}"#);
            }
            let _ = write!(data, r#","peers":{peers}"#);
        }
        What::PeerLeft {
            peer,
            reason,
            peers,
        } => {
            let _ = write!(
                data,
                r#","peer":{},"reason":{},"peers":{peers}"#,
                quote(peer),
                quote(reason)
            );
        }
        What::RoomFinished => {}
    }
    format!(
        r#"{{"type":"{}","timestamp":"{}","data":{{{data}}}}}"#,
        what.kind(),
        rfc3339(now_ms)
    )
}

/// `text` as a JSON string, escaped.
fn quote(text: &str) -> String {
    serde_json::to_string(text).expect("a string always serializes")
}

/// `ms` since the epoch as RFC 3339 UTC with milliseconds: `2026-12-02T02:40:12.123Z`.
pub fn rfc3339(ms: u64) -> String {
    let (secs, milli) = (ms / 1000, ms % 1000);
    let (days, sec_of_day) = (secs / 86_400, secs % 86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{milli:03}Z",
        sec_of_day / 3600,
        sec_of_day / 60 % 60,
        sec_of_day % 60
    )
}

/// Year, month (1..=12) and day (1..=31) of the day `days` after 1970-01-01: Howard Hinnant's
/// `civil_from_days` (<https://howardhinnant.github.io/date_algorithms.html>), in unsigned
/// arithmetic as no day here is before the epoch. Counts from 0000-03-01 in 400-year eras, so
/// the leap day falls at the end of each year.
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097; // day of era, 0..=146096
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365; // 0..=399
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100); // day of year from March 1, 0..=365
    let mp = (5 * doy + 2) / 153; // month from March, 0..=11
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + u64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests;

/// The naming fields of the events of the object with `role`, written first in `data` (a JSON
/// object-body fragment): `protocol` and `room`, and a matchbox `next=N` group's `next` and
/// `group`; a y-webrtc namespace's `namespace`; a PeerJS peer's `key` (its id is each event's
/// `peer`). `None` for objects that send no events (lobbies, PeerJS directories).
pub fn subject_of(role: &crate::role::Role) -> Option<String> {
    use crate::protocol::Wire;
    use crate::role::Role;
    Some(match role {
        Role::Room { room, wire } => {
            let protocol = match wire {
                Wire::V1 => "v1",
                Wire::Matchbox => "matchbox",
            };
            format!(r#""protocol":"{protocol}","room":{}"#, quote(room.as_str()))
        }
        Role::Group { room, n, group } => format!(
            r#""protocol":"matchbox","room":{},"next":{n},"group":{group}"#,
            quote(room.as_str())
        ),
        Role::Topics { namespace } => format!(
            r#""protocol":"yjs","namespace":{}"#,
            quote(namespace.as_str())
        ),
        Role::Peer { key, .. } => format!(r#""protocol":"peerjs","key":{}"#, quote(key)),
        Role::Lobby { .. } | Role::Directory { .. } => return None,
    })
}

/// The object's one alarm, shared by the room's sweep and the outbox's next delivery: what the
/// room asked for last, so that the alarm is always the earlier of the two.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SharedAlarm {
    sweep_at: Option<u64>,
}

impl SharedAlarm {
    /// A rebuilt object's: with seats, a sweep is assumed due within `sweep_at` (the room does
    /// not know whether its sweep alarm is set, and sweeping early does no harm).
    pub fn restored(sweep_at: Option<u64>) -> SharedAlarm {
        SharedAlarm { sweep_at }
    }

    /// The room asked for its sweep at `at` (`Outbound::ArmAlarm`), or for none (`None`,
    /// `Outbound::DisarmAlarm`).
    pub fn sweep(&mut self, at: Option<u64>) {
        self.sweep_at = at;
    }

    /// The alarm fired: the room sweeps at every firing, and asks again for the next sweep if it
    /// still needs one. Until it does, none is wanted (a sweep time left in the past would make
    /// the alarm fire again at once, for ever).
    pub fn fired(&mut self) {
        self.sweep_at = None;
    }

    /// When the alarm must be set, given the outbox.
    pub fn at(&self, outbox: &Outbox) -> Option<u64> {
        alarm_at(self.sweep_at, outbox.wake_at())
    }
}

/// The object's one alarm: the earlier of the room's sweep and the outbox's next wake.
pub fn alarm_at(sweep_at: Option<u64>, outbox_at: Option<u64>) -> Option<u64> {
    match (sweep_at, outbox_at) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}
