//! matchbox's `next=N` groups (`docs/matchbox.md`): the decisions, natively tested; the runtime
//! holds only the storage calls and the requests.
//!
//! A lobby object per room and N names the group forming (a number stored under
//! [`FORMING_KEY`]); a join goes to that group's object, which alone decides whether it takes
//! the peer (yes while it has never been full) and answers 409 otherwise; the Worker then tells
//! the lobby that group is closed and tries the one it names, at most [`TRIES`] times.

/// The lobby's one storage key.
pub const FORMING_KEY: &str = "forming";

/// How many groups one join tries before answering 503 `busy`: only groups filling under this
/// very join make it go round again.
pub const TRIES: usize = 8;

/// What the lobby answers and whether it must store its answer first.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Forming {
    /// The group forming now.
    pub group: u64,
    /// Store `group` under [`FORMING_KEY`] before answering.
    pub store: bool,
}

/// The group forming, from what the lobby's storage holds (`None` for a new lobby) and the group
/// a join found closed, if any. A report of a group older than the one forming changes nothing
/// (another join already moved the lobby on); a report of the one forming moves it to the next.
pub fn forming(stored: Option<u64>, closed: Option<u64>) -> Forming {
    let forming = stored.unwrap_or(0);
    match closed {
        Some(closed) if closed >= forming => Forming {
            group: closed + 1,
            store: true,
        },
        _ => Forming {
            group: forming,
            store: false,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_lobby_forms_group_zero_and_stores_nothing() {
        assert_eq!(
            forming(None, None),
            Forming {
                group: 0,
                store: false
            }
        );
        assert_eq!(
            forming(Some(4), None),
            Forming {
                group: 4,
                store: false
            }
        );
    }

    #[test]
    fn a_closed_report_of_the_forming_group_moves_the_lobby_on() {
        assert_eq!(
            forming(None, Some(0)),
            Forming {
                group: 1,
                store: true
            }
        );
        assert_eq!(
            forming(Some(3), Some(3)),
            Forming {
                group: 4,
                store: true
            }
        );
    }

    #[test]
    fn a_late_report_of_an_older_group_changes_nothing() {
        // Two joins found group 2 full; the first moved the lobby to 3, the second's report is
        // stale and must not skip group 3.
        assert_eq!(
            forming(Some(3), Some(2)),
            Forming {
                group: 3,
                store: false
            }
        );
    }
}
