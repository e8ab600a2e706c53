//! matchbox's `next=N` groups (`docs/matchbox.md`): which group a join goes to, decided by the
//! lobby object of a room and N. Plain Rust, natively tested; the runtime holds the requests
//! and what [`Lobby::to_store`] says to keep.
//!
//! The lobby hands out seats, not only the group forming: it counts the joins it sent to each
//! open group and has not heard back about (`inflight`), and what each group said it held when
//! it last seated someone (`seated`), and sends a join to the lowest group where those leave
//! room. So joins that arrive together spread over as many groups as they fill (a burst of 200
//! `next=2` joins: 100 groups in one round, where every join used to chase the same group), and
//! a seat freed before its group filled still goes to the next newcomer: the group alone
//! decides (once it has been full it takes nobody and answers 409), and its count, reported
//! with each join it seats, corrects the lobby's. The Worker reports each outcome back.
//!
//! The lobby stores only what an eviction must not lose ([`Lobby::to_store`]): while someone may
//! be waiting in one of its groups, the lowest open group and the highest it sent a join to;
//! once every group it sent joins to has filled, nothing (its storage is deleted). A lobby with
//! nothing stored starts from the clock's millisecond, so its groups are new objects, above any
//! an earlier life of it used (groups hold nothing in storage either: `docs/matchbox.md`).

/// How many groups one join tries before answering 503 `busy`: more than one only when the
/// lobby's counts were stale (after an eviction, or a group filled by joins it misjudged).
pub const TRIES: usize = 8;

/// A pick the lobby has not heard back about within this long is taken as failed (its report
/// was lost with the Worker's isolate), so its seat is offered again.
pub const INFLIGHT_MS: u64 = 10_000;

/// What the group a join was sent to answered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Seated: the group now holds `count` peers.
    Seated { count: u32 },
    /// 409: the group has been full; it takes nobody.
    Closed,
    /// Anything else (the join's own refusal, an error): the seat was not taken.
    Failed,
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct Group {
    id: u64,
    /// When each join in flight to it was picked (ms).
    inflight: Vec<u64>,
    seated: u32,
}

/// The groups of one room and N.
#[derive(Clone, Debug)]
pub struct Lobby {
    n: u32,
    /// The lowest group that may still be open (stored: survives an eviction).
    forming: u64,
    /// Groups at or above `forming` the lobby knows of.
    groups: Vec<Group>,
    /// Groups up to this one may hold peers this life of the lobby has not heard of (joins an
    /// earlier life sent): `None` for a lobby that started with nothing stored.
    unsure_to: Option<u64>,
}

/// What a lobby keeps in storage (under the keys `forming` and `top`): the lowest group that may
/// still be open, and the highest group joins were sent to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stored {
    pub forming: u64,
    pub top: u64,
}

impl Lobby {
    /// A lobby for groups of `n`, from what its storage holds; with nothing stored, its first
    /// group is `fresh` (the clock's millisecond).
    pub fn new(n: u32, stored: Option<Stored>, fresh: u64) -> Self {
        Lobby {
            n: n.max(1),
            forming: stored.map_or(fresh, |s| s.forming),
            groups: Vec::new(),
            unsure_to: stored.map(|s| s.top),
        }
    }

    /// What the lobby must keep in storage: `Some` while a group it sent joins to may hold
    /// someone waiting (or one an earlier life sent joins to has not been seen to fill), `None`
    /// once all have filled: then a new life of the lobby, starting afresh, loses nothing.
    pub fn to_store(&self) -> Option<Stored> {
        let unsure = self.unsure_to.is_some_and(|top| top >= self.forming);
        let waiting = self
            .groups
            .iter()
            .any(|g| (g.seated > 0 && g.seated < self.n) || !g.inflight.is_empty());
        let top = self
            .groups
            .iter()
            .map(|g| g.id)
            .chain(self.unsure_to)
            .fold(self.forming, u64::max);
        (unsure || waiting).then_some(Stored {
            forming: self.forming,
            top,
        })
    }

    pub fn forming(&self) -> u64 {
        self.forming
    }

    /// The group the next join goes to, counted as in flight there from `now_ms`.
    pub fn pick(&mut self, now_ms: u64) -> u64 {
        let n = self.n as usize;
        let mut id = self.forming;
        loop {
            let group = self.group(id);
            group
                .inflight
                .retain(|&at| now_ms.saturating_sub(at) < INFLIGHT_MS);
            if group.inflight.len() + (group.seated as usize) < n {
                group.inflight.push(now_ms);
                return id;
            }
            id += 1;
        }
    }

    /// What group `id` answered to a join [`Lobby::pick`] sent it. Returns the new `forming`
    /// when it moved (to be stored).
    pub fn answered(&mut self, id: u64, outcome: Outcome) -> Option<u64> {
        let n = self.n;
        let group = self.group(id);
        // The oldest pick: which one it was does not matter, only how many are left.
        if !group.inflight.is_empty() {
            group.inflight.remove(0);
        }
        match outcome {
            Outcome::Seated { count } => group.seated = count.min(n),
            Outcome::Closed => group.seated = n,
            Outcome::Failed => {}
        }
        let before = self.forming;
        // Full groups at the bottom are done: the lowest open one is forming.
        while let Some(i) = self.groups.iter().position(|g| g.id == self.forming) {
            if self.groups[i].seated < n {
                break;
            }
            self.groups.swap_remove(i);
            self.forming += 1;
        }
        // Reports about groups the lobby has moved past change nothing.
        self.groups.retain(|g| g.id >= self.forming);
        (self.forming != before).then_some(self.forming)
    }

    fn group(&mut self, id: u64) -> &mut Group {
        let i = match self.groups.iter().position(|g| g.id == id) {
            Some(i) => i,
            None => {
                self.groups.push(Group {
                    id,
                    inflight: Vec::new(),
                    seated: 0,
                });
                self.groups.len() - 1
            }
        };
        &mut self.groups[i]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_spreads_over_as_many_groups_as_it_fills() {
        let mut lobby = Lobby::new(2, None, 0);
        let picks: Vec<u64> = (0..200).map(|_| lobby.pick(0)).collect();
        for g in 0..100 {
            assert_eq!(picks.iter().filter(|&&p| p == g).count(), 2, "group {g}");
        }
        // Every group seats both of its joins; the lobby moves past all of them.
        let mut stored = None;
        for (k, g) in picks.iter().enumerate() {
            let count = if picks[..k].contains(g) { 2 } else { 1 };
            if let Some(f) = lobby.answered(*g, Outcome::Seated { count }) {
                stored = Some(f);
            }
        }
        assert_eq!(lobby.forming(), 100);
        assert_eq!(stored, Some(100));
        assert_eq!(lobby.pick(1), 100);
    }

    #[test]
    fn sequential_joins_fill_one_group_at_a_time() {
        let mut lobby = Lobby::new(3, None, 0);
        for count in 1..=3 {
            let g = lobby.pick(0);
            assert_eq!(g, 0);
            let moved = lobby.answered(g, Outcome::Seated { count });
            assert_eq!(moved, (count == 3).then_some(1));
        }
        assert_eq!(lobby.pick(0), 1);
    }

    #[test]
    fn a_seat_freed_before_the_group_filled_goes_to_the_next_newcomer() {
        let mut lobby = Lobby::new(2, None, 0);
        let g = lobby.pick(0);
        lobby.answered(g, Outcome::Seated { count: 1 });
        // That peer left (the lobby is not told): the next join still goes to group 0, and the
        // group's own count says one seat is still free.
        let g = lobby.pick(0);
        assert_eq!(g, 0);
        lobby.answered(g, Outcome::Seated { count: 1 });
        assert_eq!(lobby.pick(0), 0, "still room in group 0");
    }

    #[test]
    fn a_failed_or_lost_join_gives_its_seat_back() {
        let mut lobby = Lobby::new(2, None, 0);
        let (a, b) = (lobby.pick(0), lobby.pick(0));
        assert_eq!((a, b), (0, 0));
        assert_eq!(lobby.pick(0), 1, "group 0 has two in flight");
        lobby.answered(b, Outcome::Failed);
        assert_eq!(lobby.pick(0), 0, "the failed join's seat is free again");
        // A pick never reported on is given up after INFLIGHT_MS.
        let mut lobby = Lobby::new(2, None, 0);
        lobby.pick(0);
        lobby.pick(0);
        assert_eq!(lobby.pick(INFLIGHT_MS - 1), 1);
        assert_eq!(lobby.pick(INFLIGHT_MS), 0);
    }

    #[test]
    fn a_stale_lobby_learns_from_409_and_moves_on() {
        // After an eviction the lobby knows only `forming`; that group has filled since.
        let mut lobby = Lobby::new(2, Some(Stored { forming: 5, top: 5 }), 0);
        let g = lobby.pick(0);
        assert_eq!(g, 5);
        assert_eq!(lobby.answered(g, Outcome::Closed), Some(6));
        assert_eq!(lobby.pick(0), 6);
        // A late report about group 5 changes nothing.
        assert_eq!(lobby.answered(5, Outcome::Seated { count: 1 }), None);
        assert_eq!(lobby.forming(), 6);
    }

    #[test]
    fn storage_is_kept_only_while_someone_may_wait() {
        let mut lobby = Lobby::new(2, None, 1000);
        assert_eq!(lobby.to_store(), None, "a new lobby stores nothing");
        let g = lobby.pick(0);
        assert_eq!(g, 1000, "a fresh lobby starts at the clock's millisecond");
        let stored = Some(Stored {
            forming: 1000,
            top: 1000,
        });
        assert_eq!(lobby.to_store(), stored, "a join in flight");
        lobby.answered(g, Outcome::Seated { count: 1 });
        assert_eq!(lobby.to_store(), stored, "one waits");
        let g = lobby.pick(1);
        lobby.answered(g, Outcome::Seated { count: 2 });
        assert_eq!(lobby.to_store(), None, "the group filled: nobody waits");
        // A failed join's seat: nothing waits either.
        let g = lobby.pick(2);
        assert_eq!(g, 1001);
        lobby.answered(g, Outcome::Failed);
        assert_eq!(lobby.to_store(), None);
    }

    #[test]
    fn a_restored_lobby_keeps_its_storage_until_its_earlier_groups_filled() {
        // An earlier life sent joins to groups 5 to 7; group 5 was forming.
        let mut lobby = Lobby::new(2, Some(Stored { forming: 5, top: 7 }), 0);
        assert_eq!(lobby.to_store(), Some(Stored { forming: 5, top: 7 }));
        for g in 5..=7 {
            assert_eq!(lobby.answered(g, Outcome::Closed), Some(g + 1));
        }
        assert_eq!(lobby.forming(), 8);
        assert_eq!(
            lobby.to_store(),
            None,
            "every group it was unsure of has filled"
        );
        // A burst's picks above forming count as waiting, up to the highest.
        let (a, b, c) = (lobby.pick(0), lobby.pick(0), lobby.pick(0));
        assert_eq!((a, b, c), (8, 8, 9));
        assert_eq!(lobby.to_store(), Some(Stored { forming: 8, top: 9 }));
    }
}
