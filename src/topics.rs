//! The topics topology of the y-webrtc endpoint (`docs/yjs.md`): one namespace's sockets and
//! the topics each subscribes to; a publish goes to every subscriber of its topic, the sender
//! included, with the subscriber count added. The codec is [`crate::protocol::yjs`].
//!
//! Sans I/O like the room: the caller feeds it joins, frames, departures and sweeps with the
//! time, and carries out the [`Outbound`] actions it returns. Each socket's subscriptions are
//! its hibernation attachment ([`Attachment`], rewritten by [`Outbound::Attach`] whenever they
//! change), so a namespace rebuilt after an eviction ([`Topics::restore`]) has every topic.
//!
//! ```text
//!   admit(conn, now, pinged) ─────┐               ┌──> Send / Forward { to, .. }  (publish)
//!   frame(conn, seq, f, now) ─────┼─> Topics<C> ──┼──> Attach { to, text }        (subscriptions)
//!   depart(seq) ──────────────────┤               ├──> Close { to, code }
//!   alarm_fired(now, pinged) ─────┘               └──> ArmAlarm / DisarmAlarm / Event
//! ```

use serde::{Deserialize, Serialize};

use crate::action::{EventKind, Hook, Outbound, RoomEvent};
use crate::error::close;
use crate::protocol::yjs::{self, Request};
use crate::protocol::{PeerId, PONG_FRAME};
use crate::seat::{Frame, Limits, Socket, Spend};

pub use crate::seat::ATTACHMENT_MAX_BYTES;

/// The y-webrtc endpoint's own limits, from configuration (`YJS_*`).
#[derive(Clone, Debug, PartialEq)]
pub struct TopicLimits {
    /// Sockets per namespace.
    pub max_connections: u32,
    /// Topics one socket may subscribe to.
    pub max_topics: usize,
    /// Longest topic name, in bytes of UTF-8.
    pub max_topic_bytes: usize,
}

impl TopicLimits {
    /// Whether `max_topics` topics of `max_topic_bytes` printable characters each always fit
    /// one attachment (the configuration refuses limits that do not).
    pub fn fit_attachment(&self) -> bool {
        let topic = "x".repeat(self.max_topic_bytes);
        let att = Attachment {
            seq: u64::MAX,
            seen_ms: u64::MAX,
            topics: vec![topic; self.max_topics],
            session: Some(SESSION_WIDEST.into()),
            joined_ms: Some(u64::MAX),
        };
        att.to_text().len() <= ATTACHMENT_MAX_BYTES
    }
}

/// What a subscribed socket carries across hibernation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attachment {
    pub seq: u64,
    /// When the socket last sent a frame, refreshed at most every quarter idle timeout.
    pub seen_ms: u64,
    pub topics: Vec<String>,
    /// The namespace's session (its webhook events'), as rooms' attachments carry theirs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session: Option<String>,
    /// When the socket joined (the admin API's `joined_at`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub joined_ms: Option<u64>,
}

/// The longest session an attachment carries (32 hex digits, `runtime::random_id`).
const SESSION_WIDEST: &str = "ffffffffffffffffffffffffffffffff";

impl Attachment {
    pub fn to_text(&self) -> String {
        serde_json::to_string(self).expect("an attachment serializes")
    }

    pub fn from_text(text: &str) -> Option<Attachment> {
        serde_json::from_str(text).ok()
    }
}

/// One socket of the namespace.
#[derive(Clone, Debug)]
struct Subscriber<C> {
    /// Unique within the namespace's life (an event names its socket by it).
    seq: u64,
    socket: Socket<C>,
    topics: Vec<String>,
    joined_ms: u64,
}

impl<C> Subscriber<C> {
    fn attachment(&self, session: Option<&str>) -> Attachment {
        Attachment {
            seq: self.seq,
            seen_ms: self.socket.seen_ms,
            topics: self.topics.clone(),
            session: session.map(str::to_owned),
            joined_ms: Some(self.joined_ms),
        }
    }

    /// The name the log, the webhook events and the admin API give it.
    pub fn name(&self) -> PeerId {
        socket_name(self.seq)
    }
}

/// A refused subscription or publish, answered with an `error` frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Refusal {
    TooManyTopics,
    TopicTooLong,
}

/// The outcome of [`Topics::admit`].
#[derive(Debug)]
pub struct Admitted<C> {
    /// The new socket's `seq`, or `None` when the namespace is full (its socket is closed).
    pub seq: Option<u64>,
    pub out: Vec<Outbound<C>>,
}

/// One namespace: its sockets and their topics.
#[derive(Debug)]
pub struct Topics<C> {
    limits: Limits,
    topic_limits: TopicLimits,
    /// In join order.
    subscribers: Vec<Subscriber<C>>,
    next_seq: u64,
    /// Whether the sweep alarm is known to be set (`None`: unknown, after a restore).
    alarm: Option<bool>,
    /// This opening of the namespace (its webhook events' `session`), while anyone is in it.
    session: Option<String>,
}

impl<C: Clone + PartialEq> Topics<C> {
    pub fn new(limits: Limits, topic_limits: TopicLimits) -> Self {
        Topics {
            limits,
            topic_limits,
            subscribers: Vec::new(),
            next_seq: 0,
            alarm: Some(false),
            session: None,
        }
    }

    /// The namespace rebuilt from its live sockets and their attachments, after an eviction.
    pub fn restore(
        limits: Limits,
        topic_limits: TopicLimits,
        sockets: Vec<(C, Attachment)>,
        now_ms: u64,
    ) -> Self {
        let mut topics = Topics::new(limits, topic_limits);
        for (conn, att) in sockets {
            let socket = Socket::new(conn, &topics.limits, att.seen_ms, now_ms);
            topics.next_seq = topics.next_seq.max(att.seq + 1);
            if topics.session.is_none() {
                topics.session = att.session;
            }
            // In seq order, each put in its place (a sort would link a sort's code for this).
            let at = topics.subscribers.partition_point(|s| s.seq < att.seq);
            topics.subscribers.insert(
                at,
                Subscriber {
                    seq: att.seq,
                    socket,
                    topics: att.topics,
                    joined_ms: att.joined_ms.unwrap_or(att.seen_ms),
                },
            );
        }
        if !topics.subscribers.is_empty() {
            topics.alarm = None;
        }
        topics
    }

    /// Whether the alarm's state must be asked of the runtime (after a restore).
    pub fn alarm_unknown(&self) -> bool {
        self.alarm.is_none()
    }

    /// The runtime says whether an alarm is set.
    pub fn alarm_known(&mut self, set: bool) {
        self.alarm = Some(set);
    }

    pub fn len(&self) -> usize {
        self.subscribers.len()
    }

    pub fn is_empty(&self) -> bool {
        self.subscribers.is_empty()
    }

    /// How many sockets subscribe to `topic`.
    pub fn subscribers_of(&self, topic: &str) -> usize {
        self.subscribers
            .iter()
            .filter(|s| s.topics.iter().any(|t| t == topic))
            .count()
    }

    /// The topics of the socket `seq`, in the order subscribed.
    pub fn topics_of(&self, seq: u64) -> Option<&[String]> {
        self.subscribers
            .iter()
            .find(|s| s.seq == seq)
            .map(|s| s.topics.as_slice())
    }

    /// A new socket: the silent ones go first (so a dead socket never takes the last place),
    /// then it is seated, or refused with `room_full` and 4001 when the namespace is full.
    /// `new_session` names the namespace's opening if this socket opens it.
    pub fn admit(
        &mut self,
        conn: C,
        now_ms: u64,
        new_session: String,
        pinged: impl Fn(&C) -> Option<u64>,
    ) -> Admitted<C> {
        let mut out = self.sweep(now_ms, &pinged);
        let seq = self.next_seq;
        self.next_seq += 1;
        let peer = socket_name(seq);
        if self.subscribers.len() >= self.topic_limits.max_connections as usize {
            let message = format!(
                "this namespace has its {} sockets (YJS_MAX_CONNECTIONS)",
                self.topic_limits.max_connections
            );
            out.push(Outbound::Send {
                to: conn.clone(),
                frame: yjs::error_frame("room_full", &message),
            });
            out.push(Outbound::Close {
                to: conn,
                code: close::ROOM_FULL,
            });
            out.push(event(
                EventKind::Reject,
                peer,
                Some("room_full"),
                Some(close::ROOM_FULL),
            ));
            return Admitted { seq: None, out };
        }
        let subscriber = Subscriber {
            seq,
            socket: Socket::new(conn.clone(), &self.limits, now_ms, now_ms),
            topics: Vec::new(),
            joined_ms: now_ms,
        };
        // The webhook events first: stored before the upgrade is answered.
        if self.subscribers.is_empty() {
            self.session = Some(new_session);
            out.push(self.hook(Hook::RoomStarted {
                capacity: self.topic_limits.max_connections,
            }));
        }
        out.push(self.hook(Hook::PeerJoined {
            peer: peer.to_string(),
            meta: None,
            peers: self.subscribers.len() + 1,
        }));
        out.push(Outbound::Attach {
            to: conn,
            text: subscriber.attachment(self.session.as_deref()).to_text(),
        });
        out.push(event(EventKind::Join, peer, None, None));
        self.subscribers.push(subscriber);
        self.arm_if_shared(now_ms, &mut out);
        Admitted {
            seq: Some(seq),
            out,
        }
    }

    /// A frame from the socket `conn`; `None` when no seat holds that handle (the caller then
    /// names it by the `seq` of its attachment, [`Topics::frame`]).
    pub fn frame_from(
        &mut self,
        conn: &C,
        frame: Frame<'_>,
        now_ms: u64,
    ) -> Option<Vec<Outbound<C>>> {
        let i = self
            .subscribers
            .iter()
            .position(|s| s.socket.conn == *conn)?;
        Some(self.frame_at(i, frame, now_ms))
    }

    /// A frame from the socket `seq`; nothing if it has left.
    pub fn frame(&mut self, seq: u64, frame: Frame<'_>, now_ms: u64) -> Vec<Outbound<C>> {
        match self.subscribers.iter().position(|s| s.seq == seq) {
            Some(i) => self.frame_at(i, frame, now_ms),
            None => Vec::new(),
        }
    }

    /// The socket `seq` closed or failed: it leaves its topics (nobody is told: y-webrtc has
    /// no departures; the next publish's `clients` says it).
    pub fn depart(&mut self, seq: u64) -> Vec<Outbound<C>> {
        match self.subscribers.iter().position(|s| s.seq == seq) {
            Some(i) => self.remove(i, "disconnect", None),
            None => Vec::new(),
        }
    }

    /// The sweep alarm fired: drops silent sockets, and asks for the next sweep while two or
    /// more sockets share the namespace.
    pub fn alarm_fired(
        &mut self,
        now_ms: u64,
        pinged: impl Fn(&C) -> Option<u64>,
    ) -> Vec<Outbound<C>> {
        self.alarm = Some(false);
        let mut out = self.sweep(now_ms, &pinged);
        self.arm_if_shared(now_ms, &mut out);
        out
    }

    /// Closes (4008) every socket with no frame and no auto-answered ping for longer than the
    /// idle timeout.
    pub fn sweep(&mut self, now_ms: u64, pinged: &impl Fn(&C) -> Option<u64>) -> Vec<Outbound<C>> {
        let mut out = Vec::new();
        let mut i = 0;
        while i < self.subscribers.len() {
            let socket = &self.subscribers[i].socket;
            if socket.silent(now_ms, pinged(&socket.conn), &self.limits) {
                out.extend(self.remove(i, "timeout", Some(close::TIMEOUT)));
            } else {
                i += 1;
            }
        }
        out
    }

    /// The webhook event `hook` of the current session.
    fn hook(&self, hook: Hook) -> Outbound<C> {
        Outbound::Hook {
            session: self.session.clone().unwrap_or_default(),
            hook,
        }
    }

    /// This opening of the namespace, while anyone is in it.
    pub fn session(&self) -> Option<&str> {
        self.session.as_deref()
    }

    /// Each socket, in join order: its name, when it joined and its topics (the admin API's
    /// report).
    pub fn sockets(&self) -> impl Iterator<Item = (PeerId, u64, &[String])> {
        self.subscribers
            .iter()
            .map(|s| (s.name(), s.joined_ms, s.topics.as_slice()))
    }

    /// Removes the socket named `name` (the admin API): it gets the `kicked` error and closes
    /// with 4010, leaving its topics. `None` when no socket has that name.
    pub fn kick(&mut self, name: &PeerId) -> Option<Vec<Outbound<C>>> {
        let i = self.subscribers.iter().position(|s| s.name() == *name)?;
        let conn = self.subscribers[i].socket.conn.clone();
        let mut out = self.remove(i, "kicked", Some(close::KICKED));
        // Told after its departure is stored (the webhook events come first), before its close.
        let at = out
            .iter()
            .position(|o| !matches!(o, Outbound::Hook { .. }))
            .unwrap_or(out.len());
        out.insert(at, error(conn, "kicked", crate::room::KICKED_MESSAGE));
        Some(out)
    }

    /// Removes every socket as [`Topics::kick`] does, in join order.
    pub fn close_all(&mut self) -> Vec<Outbound<C>> {
        let mut out = Vec::new();
        while let Some(name) = self.subscribers.first().map(Subscriber::name) {
            out.append(&mut self.kick(&name).expect("the first socket is seated"));
        }
        out
    }

    /// Whether a server message to `to` (or to everyone, `None`) names a socket that is here.
    /// y-webrtc has no such message, so none is ever sent: the admin API answers 0 delivered.
    pub fn has(&self, to: Option<&PeerId>) -> bool {
        to.is_none_or(|to| self.subscribers.iter().any(|s| s.name() == *to))
    }

    fn arm_if_shared(&mut self, now_ms: u64, out: &mut Vec<Outbound<C>>) {
        if self.subscribers.len() >= 2 && self.alarm != Some(true) {
            self.alarm = Some(true);
            out.push(Outbound::ArmAlarm {
                at: now_ms + self.limits.sweep_interval_ms(),
            });
        }
    }

    fn remove(&mut self, i: usize, reason: &'static str, code: Option<u16>) -> Vec<Outbound<C>> {
        let gone = self.subscribers.remove(i);
        // The webhook events first: stored before anything else happens.
        let mut out = vec![self.hook(Hook::PeerLeft {
            peer: gone.name().to_string(),
            reason,
            peers: self.subscribers.len(),
        })];
        if self.subscribers.is_empty() {
            out.push(self.hook(Hook::RoomFinished));
            self.session = None;
        }
        if let Some(code) = code {
            out.push(Outbound::Close {
                to: gone.socket.conn,
                code,
            });
        }
        out.push(event(
            EventKind::Depart,
            socket_name(gone.seq),
            Some(reason),
            code,
        ));
        if self.subscribers.is_empty() && self.alarm != Some(false) {
            self.alarm = Some(false);
            out.push(Outbound::DisarmAlarm);
        }
        out
    }

    fn frame_at(&mut self, i: usize, frame: Frame<'_>, now_ms: u64) -> Vec<Outbound<C>> {
        let text = match self.limits.text(frame) {
            Ok(text) => text,
            Err(code) => return self.remove(i, "disconnect", Some(code)),
        };
        let limits = &self.limits;
        let sub = &mut self.subscribers[i];
        let conn = sub.socket.conn.clone();
        let mut out = Vec::new();
        // The attachment holds `seen_ms` beside the topics: rewritten whole when it is due.
        let mut attach = sub.socket.heard(now_ms, limits).is_some();
        match sub.socket.budget.spend_message(limits, now_ms) {
            Spend::Allowed => {}
            Spend::Refused => {
                out.push(rate_limited(conn));
                return self.attached(i, attach, out);
            }
            Spend::Exhausted => return self.remove(i, "disconnect", Some(close::RATE_LIMITED)),
        }
        match yjs::parse(text) {
            Err(e) => out.push(error(conn, "bad_request", &e.to_string())),
            Ok(Request::Ping) => out.push(Outbound::Send {
                to: conn,
                frame: PONG_FRAME.to_owned(),
            }),
            Ok(Request::Subscribe(topics)) => {
                let (changed, refused) = self.subscribe(i, topics);
                attach |= changed;
                if let Some(refusal) = refused {
                    out.push(self.refusal(conn, refusal));
                }
            }
            Ok(Request::Unsubscribe(topics)) => {
                let sub = &mut self.subscribers[i];
                let before = sub.topics.len();
                sub.topics.retain(|t| !topics.contains(t));
                attach |= sub.topics.len() != before;
            }
            Ok(Request::Publish(publish)) => {
                if publish.topic.len() > self.topic_limits.max_topic_bytes {
                    out.push(self.refusal(conn, Refusal::TopicTooLong));
                    return self.attached(i, attach, out);
                }
                let recipients: Vec<usize> = (0..self.subscribers.len())
                    .filter(|&j| self.subscribers[j].topics.contains(&publish.topic))
                    .collect();
                // As y-webrtc's server: a publish nobody subscribes to (or to the empty topic,
                // which it reads as none) goes nowhere.
                if recipients.is_empty() || publish.topic.is_empty() {
                    return self.attached(i, attach, out);
                }
                let (bytes, count) = (text.len() as u64, recipients.len() as u64);
                let limits = &self.limits;
                match self.subscribers[i]
                    .socket
                    .budget
                    .spend_bytes(limits, bytes, count)
                {
                    Spend::Allowed => {}
                    Spend::Refused => {
                        out.push(rate_limited(conn));
                        return self.attached(i, attach, out);
                    }
                    Spend::Exhausted => {
                        return self.remove(i, "disconnect", Some(close::RATE_LIMITED))
                    }
                }
                let forwarding = publish.forwarding(recipients.len());
                for j in recipients {
                    let to = self.subscribers[j].socket.conn.clone();
                    out.push(Outbound::forwarded(to, &forwarding));
                }
            }
        }
        self.attached(i, attach, out)
    }

    /// `out`, after an `Attach` of socket `i`'s attachment when `attach` says it changed.
    fn attached(&self, i: usize, attach: bool, mut out: Vec<Outbound<C>>) -> Vec<Outbound<C>> {
        if attach {
            let sub = &self.subscribers[i];
            out.insert(
                0,
                Outbound::Attach {
                    to: sub.socket.conn.clone(),
                    text: sub.attachment(self.session.as_deref()).to_text(),
                },
            );
        }
        out
    }

    /// Adds socket `i` to `topics`: whether its topics changed, and the first refusal.
    fn subscribe(&mut self, i: usize, topics: Vec<String>) -> (bool, Option<Refusal>) {
        let (mut changed, mut refused) = (false, None);
        for topic in topics {
            let sub = &self.subscribers[i];
            if sub.topics.contains(&topic) {
                continue;
            }
            let refusal = if topic.len() > self.topic_limits.max_topic_bytes {
                Some(Refusal::TopicTooLong)
            } else if sub.topics.len() >= self.topic_limits.max_topics {
                Some(Refusal::TooManyTopics)
            } else {
                let mut att = sub.attachment(Some(SESSION_WIDEST));
                att.topics.push(topic.clone());
                // seq and the times at their widest: the attachment can never outgrow this.
                att.seq = u64::MAX;
                att.seen_ms = u64::MAX;
                att.joined_ms = Some(u64::MAX);
                (att.to_text().len() > ATTACHMENT_MAX_BYTES).then_some(Refusal::TooManyTopics)
            };
            match refusal {
                Some(r) => {
                    refused.get_or_insert(r);
                }
                None => {
                    self.subscribers[i].topics.push(topic);
                    changed = true;
                }
            }
        }
        (changed, refused)
    }

    fn refusal(&self, to: C, refusal: Refusal) -> Outbound<C> {
        match refusal {
            Refusal::TooManyTopics => error(
                to,
                "too_many_topics",
                &format!(
                    "a socket subscribes to at most {} topics (YJS_MAX_TOPICS), within its 2,048-byte attachment",
                    self.topic_limits.max_topics
                ),
            ),
            Refusal::TopicTooLong => error(
                to,
                "bad_request",
                &crate::protocol::FrameError::TopicTooLong {
                    max: self.topic_limits.max_topic_bytes,
                }
                .to_string(),
            ),
        }
    }
}

/// The log's name for socket `seq` (y-webrtc sockets have no id of their own).
fn socket_name(seq: u64) -> PeerId {
    PeerId::parse(&format!("s{seq}")).expect("s and digits are in the id alphabet")
}

fn event<C>(
    kind: EventKind,
    peer: PeerId,
    reason: Option<&'static str>,
    close_code: Option<u16>,
) -> Outbound<C> {
    Outbound::Event(RoomEvent {
        kind,
        peer,
        reason,
        close_code,
    })
}

fn error<C>(to: C, code: &str, message: &str) -> Outbound<C> {
    Outbound::Send {
        to,
        frame: yjs::error_frame(code, message),
    }
}

fn rate_limited<C>(to: C) -> Outbound<C> {
    error(
        to,
        "rate_limited",
        "over the message or byte budget; the frame was dropped",
    )
}

#[cfg(test)]
mod tests;
