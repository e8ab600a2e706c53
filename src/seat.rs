//! One socket's seat, whatever topology holds it (a room, a PeerJS peer, a y-webrtc
//! namespace): the limits from configuration, the frame-size rule, the message and byte
//! budgets, and liveness (when the socket was last heard from, and when to rewrite its
//! hibernation attachment to say so). No clock of its own: the time comes in.

/// The most bytes a hibernation attachment may hold on Cloudflare.
pub const ATTACHMENT_MAX_BYTES: usize = 2048;

use crate::error::close;

/// The limits every seat enforces, from configuration.
#[derive(Clone, Debug, PartialEq)]
pub struct Limits {
    /// Capacity of a room opened without `capacity`.
    pub default_capacity: u32,
    /// Largest text frame accepted, in bytes.
    pub max_message_bytes: usize,
    /// Messages a peer may send at once before `rate_limited` (the bucket's size).
    pub rate_burst: u32,
    /// Messages per second the bucket refills with.
    pub rate_per_sec: u32,
    /// Bytes a peer may have delivered at once (a frame counts once per recipient).
    pub rate_bytes_burst: u64,
    /// Bytes per second the byte bucket refills with.
    pub rate_bytes_per_sec: u64,
    /// A peer with no frame and no auto-answered ping for this long is dropped (4008).
    pub idle_timeout_ms: u64,
}

impl Limits {
    /// How often a call's sweep alarm fires: every half idle timeout, so a silent peer is dropped
    /// between 1 and 1.5 timeouts after its last sign of life.
    pub fn sweep_interval_ms(&self) -> u64 {
        self.idle_timeout_ms / 2
    }

    /// The frame-size rule: a text frame of at most `max_message_bytes` is read; anything else
    /// closes its socket, with this code (1009 too big, 1003 binary).
    pub fn text<'a>(&self, frame: Frame<'a>) -> Result<&'a str, u16> {
        match frame {
            Frame::Text(text) if text.len() <= self.max_message_bytes => Ok(text),
            Frame::Text(_) | Frame::TooBig => Err(close::MESSAGE_TOO_BIG),
            Frame::Binary(_) => Err(close::UNSUPPORTED_DATA),
        }
    }
}

/// An incoming WebSocket frame, as far as a seat cares.
#[derive(Clone, Copy, Debug)]
pub enum Frame<'a> {
    Text(&'a str),
    /// A text frame the caller found to be over `max_message_bytes` from its length alone, so its
    /// text never had to be copied anywhere: closed with 1009 like an oversized `Text`.
    TooBig,
    /// A binary frame of this many bytes: not part of any protocol here.
    Binary(usize),
}

/// One seated socket: its handle, when it was last heard from, and its budgets. Every topology
/// keeps one per socket, beside what it knows of the socket itself.
#[derive(Clone, Debug, PartialEq)]
pub struct Socket<C> {
    pub conn: C,
    /// When this socket last sent a frame (ms).
    pub seen_ms: u64,
    /// The `seen_ms` last recorded on the socket's attachment (see [`Socket::heard`]).
    pub recorded_seen_ms: u64,
    pub budget: Budget,
}

impl<C> Socket<C> {
    /// A socket last heard from at `seen_ms` (now, for a new one), with full budgets.
    pub fn new(conn: C, limits: &Limits, seen_ms: u64, now_ms: u64) -> Self {
        Socket {
            conn,
            seen_ms,
            recorded_seen_ms: seen_ms,
            budget: Budget::full(limits, now_ms),
        }
    }

    /// A frame arrived at `now_ms`: the time to record in the socket's attachment, when it is
    /// due (see [`heard_from`]).
    pub fn heard(&mut self, now_ms: u64, limits: &Limits) -> Option<u64> {
        heard_from(
            &mut self.seen_ms,
            &mut self.recorded_seen_ms,
            now_ms,
            limits,
        )
    }

    /// Whether nothing was heard for longer than the idle timeout at `now_ms`: no frame since
    /// `seen_ms`, and no auto-answered ping since `pinged` (the runtime's
    /// `getWebSocketAutoResponseTimestamp`, in ms).
    pub fn silent(&self, now_ms: u64, pinged: Option<u64>, limits: &Limits) -> bool {
        let last = self.seen_ms.max(pinged.unwrap_or(0));
        now_ms.saturating_sub(last) > limits.idle_timeout_ms
    }
}

/// One token bucket, plus a second, leaking counter of what it refused: a sender that keeps
/// going until it has been refused a whole burst's worth (net of the refill) is exhausted.
#[derive(Clone, Debug, PartialEq)]
struct Bucket {
    tokens: f64,
    refused: f64,
}

impl Bucket {
    fn full(burst: f64) -> Self {
        Bucket {
            tokens: burst,
            refused: 0.0,
        }
    }

    fn refill(&mut self, amount: f64, burst: f64) {
        self.tokens = (self.tokens + amount).min(burst);
        self.refused = (self.refused - amount).max(0.0);
    }

    /// Spends `cost`; a refusal counts `counted` towards exhaustion.
    fn spend(&mut self, cost: f64, counted: f64, burst: f64) -> Spend {
        if self.tokens >= cost {
            self.tokens -= cost;
            Spend::Allowed
        } else {
            self.refused += counted;
            if self.refused >= burst {
                Spend::Exhausted
            } else {
                Spend::Refused
            }
        }
    }
}

/// A sender's two budgets: messages (every frame costs one) and bytes (a relayed frame costs its
/// length once per recipient, so a broadcast to 15 peers costs 15 times a direct message). Over
/// either: `rate_limited` and the message is dropped; far over either: closed with 4006. A
/// refused frame counts towards that once, whatever its recipients (a refused broadcast to 15
/// peers delivered nothing), so a short overshoot only costs a few `rate_limited` errors and a
/// sender has time to back off.
#[derive(Clone, Debug, PartialEq)]
pub struct Budget {
    messages: Bucket,
    bytes: Bucket,
    last_ms: u64,
}

/// What the budget says about one message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Spend {
    Allowed,
    Refused,
    /// Refused, and the sender has gone far over budget: close it.
    Exhausted,
}

impl Budget {
    pub fn full(limits: &Limits, now_ms: u64) -> Self {
        Budget {
            messages: Bucket::full(limits.rate_burst as f64),
            bytes: Bucket::full(limits.rate_bytes_burst as f64),
            last_ms: now_ms,
        }
    }

    /// Refills both buckets for the time since the last call.
    fn refill(&mut self, limits: &Limits, now_ms: u64) {
        let elapsed_s = now_ms.saturating_sub(self.last_ms) as f64 / 1000.0;
        self.last_ms = self.last_ms.max(now_ms);
        self.messages.refill(
            elapsed_s * limits.rate_per_sec as f64,
            limits.rate_burst as f64,
        );
        self.bytes.refill(
            elapsed_s * limits.rate_bytes_per_sec as f64,
            limits.rate_bytes_burst as f64,
        );
    }

    /// One message arrives at `now_ms`.
    pub fn spend_message(&mut self, limits: &Limits, now_ms: u64) -> Spend {
        self.refill(limits, now_ms);
        self.messages.spend(1.0, 1.0, limits.rate_burst as f64)
    }

    /// A frame of `frame_bytes` is about to be delivered to `recipients` sockets (after
    /// [`Budget::spend_message`] at the same time): it costs `frame_bytes × recipients`; refused,
    /// it counts `frame_bytes` towards exhaustion.
    pub fn spend_bytes(&mut self, limits: &Limits, frame_bytes: u64, recipients: u64) -> Spend {
        let cost = frame_bytes.saturating_mul(recipients);
        self.bytes.spend(
            cost as f64,
            frame_bytes as f64,
            limits.rate_bytes_burst as f64,
        )
    }
}

/// A sender was heard from at `now_ms`: advances `seen_ms`, and returns the time to record in
/// its socket's attachment when the last recorded one is a quarter idle timeout old (so a busy
/// sender rewrites its attachment at most four times per timeout).
pub fn heard_from(
    seen_ms: &mut u64,
    recorded_ms: &mut u64,
    now_ms: u64,
    limits: &Limits,
) -> Option<u64> {
    *seen_ms = (*seen_ms).max(now_ms);
    if seen_ms.saturating_sub(*recorded_ms) >= limits.idle_timeout_ms / 4 {
        *recorded_ms = *seen_ms;
        Some(*seen_ms)
    } else {
        None
    }
}
