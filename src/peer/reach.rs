//! What one PeerJS peer may do to the objects of others (issue: 40 sockets each sending 16
//! 65 KB `OFFER`s to distinct absent ids grew an isolate by 40 MiB). Two bounds, both the
//! sender's, because each recipient's object sees only its own share:
//!
//! - **Wakes.** A message to an id this peer has not messaged for [`RECENT_MS`] may start that
//!   id's object: it costs a token of a bucket of [`WAKE_BURST`], refilled at [`WAKE_PER_SEC`]
//!   (a newcomer meshing with 15 peers spends 15 at once). The adapter also counts each wake
//!   against the client's join rate, as a join would be (`docs/security.md`).
//! - **Parking.** Bytes that may sit held at absent peers' objects: at most
//!   [`PARK_MAX_BYTES`] at once. A message counts from when it leaves until its recipient's
//!   answer (released if it was sent or dropped) or, if it was held, until the expiry. Past the
//!   bound a message still goes, but is not held: if its recipient is absent, the sender hears
//!   `EXPIRE` (the client's `peer-unavailable`), as after an expiry.

/// How long an id counts as reached: messages to it within this cost no wake.
pub const RECENT_MS: u64 = 60_000;
/// The most ids remembered as reached (the oldest is forgotten first).
pub const RECENT_MAX: usize = 64;
/// Wakes at once.
pub const WAKE_BURST: f64 = 32.0;
/// Wakes refilled per second.
pub const WAKE_PER_SEC: f64 = 1.0;
/// The most bytes of one sender that may be held for absent peers at once (the same as what
/// one absent peer may hold from all senders).
pub const PARK_MAX_BYTES: usize = crate::protocol::peerjs::HELD_MAX_BYTES;
/// A parked message whose answer never came stops counting after this long.
pub const ANSWER_WAIT_MS: u64 = 30_000;

struct Parked {
    dst: String,
    bytes: usize,
    until_ms: u64,
}

/// The sender-side state of one peer: ids reached lately, wake tokens, parked bytes.
pub struct Reach {
    recent: Vec<(String, u64)>,
    tokens: f64,
    refilled_ms: u64,
    parked: Vec<Parked>,
}

/// What a message to another id may do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Route {
    /// The first message to its id in a while: it may start that id's object.
    pub wakes: bool,
    /// It may be held if its recipient is absent.
    pub hold: bool,
}

impl Reach {
    pub fn new(now_ms: u64) -> Self {
        Reach {
            recent: Vec::new(),
            tokens: WAKE_BURST,
            refilled_ms: now_ms,
            parked: Vec::new(),
        }
    }

    /// A message of `bytes` to `dst` (which it would like held if `holdable`): how it may go,
    /// or `None` when it would wake one id too many.
    pub fn route(&mut self, dst: &str, bytes: usize, holdable: bool, now_ms: u64) -> Option<Route> {
        self.recent
            .retain(|(_, at)| now_ms.saturating_sub(*at) < RECENT_MS);
        let wakes = match self.recent.iter_mut().find(|(id, _)| id == dst) {
            Some((_, at)) => {
                *at = now_ms;
                false
            }
            None => {
                self.refill(now_ms);
                if self.tokens < 1.0 {
                    return None;
                }
                self.tokens -= 1.0;
                if self.recent.len() >= RECENT_MAX {
                    self.recent.remove(0);
                }
                self.recent.push((dst.to_owned(), now_ms));
                true
            }
        };
        self.parked.retain(|p| p.until_ms > now_ms);
        let parked: usize = self.parked.iter().map(|p| p.bytes).sum();
        let hold = holdable && parked + bytes <= PARK_MAX_BYTES;
        if hold {
            self.parked.push(Parked {
                dst: dst.to_owned(),
                bytes,
                until_ms: now_ms + ANSWER_WAIT_MS,
            });
        }
        Some(Route { wakes, hold })
    }

    /// The recipient's object answered a message of `bytes` to `dst` that was sent to be held:
    /// `held` keeps its bytes parked until the expiry, anything else releases them.
    pub fn answered(&mut self, dst: &str, bytes: usize, held: bool, expire_ms: u64, now_ms: u64) {
        let Some(i) = self
            .parked
            .iter()
            .position(|p| p.dst == dst && p.bytes == bytes && p.until_ms > now_ms)
        else {
            return;
        };
        if held {
            self.parked[i].until_ms = now_ms + expire_ms;
        } else {
            self.parked.remove(i);
        }
    }

    /// The client's join rate refused a wake: no more until the bucket refills from empty.
    pub fn wakes_refused(&mut self, now_ms: u64) {
        self.refill(now_ms);
        self.tokens = 0.0;
    }

    /// Bytes parked now.
    pub fn parked_bytes(&self, now_ms: u64) -> usize {
        self.parked
            .iter()
            .filter(|p| p.until_ms > now_ms)
            .map(|p| p.bytes)
            .sum()
    }

    fn refill(&mut self, now_ms: u64) {
        let elapsed_s = now_ms.saturating_sub(self.refilled_ms) as f64 / 1000.0;
        self.tokens = (self.tokens + elapsed_s * WAKE_PER_SEC).min(WAKE_BURST);
        self.refilled_ms = self.refilled_ms.max(now_ms);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_new_ids_cost_wakes_and_the_bucket_refills() {
        let mut r = Reach::new(0);
        for i in 0..WAKE_BURST as usize {
            let route = r.route(&format!("p{i}"), 10, false, 0).unwrap();
            assert!(route.wakes);
        }
        // The burst is spent: a new id is refused, an id reached lately is not.
        assert_eq!(r.route("new", 10, false, 0), None);
        assert_eq!(
            r.route("p3", 10, false, 10),
            Some(Route {
                wakes: false,
                hold: false
            })
        );
        // One second later, one more.
        assert!(r.route("new", 10, false, 1000).unwrap().wakes);
        assert_eq!(r.route("newer", 10, false, 1000), None);
        // An id not messaged for RECENT_MS wakes again.
        let later = 1000 + RECENT_MS;
        assert!(r.route("p3", 10, false, later).unwrap().wakes);
    }

    #[test]
    fn the_recent_list_is_bounded() {
        let mut r = Reach::new(0);
        for i in 0..(RECENT_MAX + 10) {
            let _ = r.route(&format!("p{i}"), 1, false, i as u64 * 1000);
        }
        assert!(r.recent.len() <= RECENT_MAX);
    }

    #[test]
    fn parked_bytes_are_bounded_and_released_by_answers() {
        let mut r = Reach::new(0);
        let big = 65 << 10;
        let fits = PARK_MAX_BYTES / big;
        for i in 0..fits {
            assert!(r.route(&format!("p{i}"), big, true, 0).unwrap().hold);
        }
        // Over the bound: it goes, but not to be held.
        let over = r.route("px", big, true, 0).unwrap();
        assert_eq!(
            over,
            Route {
                wakes: true,
                hold: false
            }
        );
        // An answer "sent" releases its bytes; "held" keeps them until the expiry.
        r.answered("p0", big, false, 5000, 10);
        r.answered("p1", big, true, 5000, 10);
        assert_eq!(r.parked_bytes(10), (fits - 1) * big);
        assert!(r.route("py", big, true, 20).unwrap().hold);
        // Past the expiry the held ones stop counting; unanswered ones after ANSWER_WAIT_MS.
        assert_eq!(r.parked_bytes(5010), (fits - 1) * big);
        assert_eq!(r.parked_bytes(ANSWER_WAIT_MS + 20), 0);
        // A message that may not be held never counts.
        assert!(!r.route("pz", big, false, ANSWER_WAIT_MS + 20).unwrap().hold);
        assert_eq!(r.parked_bytes(ANSWER_WAIT_MS + 20), 0);
    }

    #[test]
    fn a_refused_join_rate_empties_the_bucket() {
        let mut r = Reach::new(0);
        assert!(r.route("a", 1, false, 0).unwrap().wakes);
        r.wakes_refused(0);
        assert_eq!(r.route("b", 1, false, 0), None);
        assert!(r.route("b", 1, false, 1000).unwrap().wakes);
    }
}
