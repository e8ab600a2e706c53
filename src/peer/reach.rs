//! What one PeerJS peer may do to the objects of others (issue: 40 sockets each sending 16
//! 65 KB `OFFER`s to distinct absent ids grew an isolate by 40 MiB). Two bounds, both the
//! sender's, because each recipient's object sees only its own share:
//!
//! - **Wakes.** A message to an id this peer has not messaged for [`RECENT_MS`] may start that
//!   id's object: it takes a token of a bucket of [`WAKE_BURST`], refilled at [`WAKE_PER_SEC`],
//!   given back if the answer says the id was connected (its object was there anyway). One that
//!   found the id absent also counts against the client's join rate, as a join would
//!   (`docs/security.md`); refused there, the bucket empties. Without a token the message is
//!   answered `EXPIRE` (the client's non-fatal `peer-unavailable`), as if the id had expired.
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
    /// Its answer came (held): it counts until the expiry, and no other answer is its.
    answered: bool,
}

/// The sender-side state of one peer: ids reached lately, wake tokens, parked bytes.
pub struct Reach {
    recent: Vec<(String, u64)>,
    tokens: f64,
    refilled_ms: u64,
    parked: Vec<Parked>,
    /// Ids this peer was told `EXPIRE` from, and until when no other is sent.
    told: Vec<(String, u64)>,
}

/// What a recipient's object said of a message, as far as the sender's bounds care.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Answer {
    /// The recipient was connected (or the message was not delivered at all).
    Connected,
    /// Held, for `expire_ms`.
    Held { expire_ms: u64 },
    /// The recipient was absent and it was dropped.
    Dropped,
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
            told: Vec::new(),
        }
    }

    /// Whether to tell this peer `EXPIRE` from `dst` now: once per id within `expire_ms`.
    pub fn tell_expired(&mut self, dst: &str, expire_ms: u64, now_ms: u64) -> bool {
        self.told.retain(|(_, until)| *until > now_ms);
        if self.told.iter().any(|(id, _)| id == dst) {
            return false;
        }
        if self.told.len() >= RECENT_MAX {
            self.told.remove(0);
        }
        self.told.push((dst.to_owned(), now_ms + expire_ms));
        true
    }

    /// A message of `bytes` to `dst` (which it would like held if `holdable`): how it may go,
    /// or `None` when it would wake one id too many (then `dst` is not counted as reached, so
    /// the next message to it asks again).
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
                answered: false,
            });
        }
        Some(Route { wakes, hold })
    }

    /// The recipient's object answered a message of `bytes` to `dst` (routed as `route`):
    /// `connected` gives a wake's token back; for one sent to be held, `held` keeps its bytes
    /// parked until the expiry, anything else releases them (the oldest unanswered such
    /// message's: answers to one recipient come in the order sent).
    pub fn answered(&mut self, dst: &str, bytes: usize, route: Route, answer: Answer, now_ms: u64) {
        if route.wakes && answer == Answer::Connected {
            self.tokens = (self.tokens + 1.0).min(WAKE_BURST);
        }
        if !route.hold {
            return;
        }
        let Some(i) = self
            .parked
            .iter()
            .position(|p| !p.answered && p.dst == dst && p.bytes == bytes)
        else {
            return;
        };
        match answer {
            Answer::Held { expire_ms } => {
                self.parked[i].until_ms = now_ms + expire_ms;
                self.parked[i].answered = true;
            }
            _ => {
                self.parked.remove(i);
            }
        }
    }

    /// The client's join rate refused a wake of `dst`: no more until the bucket refills from
    /// empty, and `dst` counts as not reached (a message sent to it again asks again).
    pub fn wakes_refused(&mut self, dst: &str, now_ms: u64) {
        self.refill(now_ms);
        self.tokens = 0.0;
        self.recent.retain(|(id, _)| id != dst);
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
        let held = Route {
            wakes: true,
            hold: true,
        };
        r.answered("p0", big, held, Answer::Connected, 10);
        r.answered("p1", big, held, Answer::Held { expire_ms: 5000 }, 10);
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
    fn a_refused_join_rate_empties_the_bucket_and_forgets_the_id() {
        let mut r = Reach::new(0);
        assert!(r.route("a", 1, false, 0).unwrap().wakes);
        r.wakes_refused("a", 0);
        assert_eq!(r.route("b", 1, false, 0), None);
        // Sending to "a" again is a wake again, not a free pass.
        assert_eq!(r.route("a", 1, false, 0), None);
        assert!(r.route("b", 1, false, 1000).unwrap().wakes);
    }

    #[test]
    fn a_wake_that_found_its_id_connected_gives_its_token_back() {
        let mut r = Reach::new(0);
        let route = Route {
            wakes: true,
            hold: false,
        };
        for i in 0..100 {
            let id = format!("p{i}");
            assert_eq!(r.route(&id, 1, false, 0), Some(route), "{id}");
            r.answered(&id, 1, route, Answer::Connected, 0);
        }
        // Absent ids keep theirs.
        for i in 0..WAKE_BURST as usize {
            let id = format!("ghost{i}");
            assert!(r.route(&id, 1, false, 0).is_some());
            r.answered(&id, 1, route, Answer::Dropped, 0);
        }
        assert_eq!(r.route("one-more", 1, false, 0), None);
    }

    #[test]
    fn each_answer_settles_one_parked_message_of_the_same_size() {
        let mut r = Reach::new(0);
        let held = Route {
            wakes: false,
            hold: true,
        };
        // Two candidates of one size to one id: both held, then the expiry counts for both.
        assert!(r.route("p", 100, true, 0).unwrap().hold);
        assert!(r.route("p", 100, true, 0).unwrap().hold);
        r.answered("p", 100, held, Answer::Held { expire_ms: 60_000 }, 1);
        r.answered("p", 100, held, Answer::Held { expire_ms: 60_000 }, 1);
        assert_eq!(r.parked_bytes(ANSWER_WAIT_MS + 10), 200);
        // A third, dropped: it releases its own bytes, not a held one's.
        assert!(r.route("p", 100, true, 2).unwrap().hold);
        r.answered("p", 100, held, Answer::Dropped, 3);
        assert_eq!(r.parked_bytes(ANSWER_WAIT_MS + 10), 200);
    }
}
