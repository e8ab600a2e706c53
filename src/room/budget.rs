//! A sender's budgets: how many messages and how many delivered bytes it may send at once,
//! refilled over time. Part of the room's state machine: no clock of its own (the time comes in).

use super::Limits;

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

    fn spend(&mut self, cost: f64, burst: f64) -> Spend {
        if self.tokens >= cost {
            self.tokens -= cost;
            Spend::Allowed
        } else {
            self.refused += cost;
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
/// either: `rate_limited` and the message is dropped; far over either: closed with 4006. A short
/// overshoot only costs a few `rate_limited` errors.
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
        self.messages.spend(1.0, limits.rate_burst as f64)
    }

    /// `bytes` are about to be delivered (after [`Budget::spend_message`] at the same time).
    pub fn spend_bytes(&mut self, limits: &Limits, bytes: u64) -> Spend {
        self.bytes
            .spend(bytes as f64, limits.rate_bytes_burst as f64)
    }
}

/// A sender was heard from at `now_ms`: advances `seen_ms`, and returns the time to record in
/// its socket's attachment when the last recorded one is a quarter idle timeout old (so a busy
/// sender rewrites its attachment at most four times per timeout). Rooms and PeerJS peers alike.
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
