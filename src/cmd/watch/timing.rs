//! Owns when a watched source is due for a snapshot: pure arithmetic on instants that
//! the loop hands in (so tests drive it with a made-up clock), no waiting, no I/O.

use std::time::{Duration, Instant};

use crate::config::WatchTiming;

/// The waits of `WATCH_*`, as fixed durations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Waits {
    /// Quiet time after the last change before the snapshot (`WATCH_DELAY`).
    pub delay: Duration,
    /// Longest time from the first change to the snapshot (`WATCH_MAX_WAIT`).
    pub max_wait: Duration,
    /// Shortest time between the starts of two snapshots (`WATCH_MIN_INTERVAL`).
    pub min_interval: Duration,
}

impl From<WatchTiming> for Waits {
    fn from(t: WatchTiming) -> Waits {
        Waits {
            delay: t.delay.approx(),
            max_wait: t.max_wait.approx(),
            min_interval: t.min_interval.approx(),
        }
    }
}

/// Changes seen since the last snapshot of one source began.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Burst {
    first: Instant,
    last: Instant,
    /// Known to differ already (the cheap comparison said so): no quiet time to wait for.
    now: bool,
}

/// The timing state of one source.
#[derive(Debug, Clone, Default)]
pub struct Schedule {
    burst: Option<Burst>,
    /// When the last snapshot of this source started.
    last_start: Option<Instant>,
}

impl Schedule {
    /// Notes a change seen at `at`.
    pub fn change(&mut self, at: Instant) {
        match &mut self.burst {
            Some(b) => b.last = b.last.max(at),
            None => {
                self.burst = Some(Burst {
                    first: at,
                    last: at,
                    now: false,
                })
            }
        }
    }

    /// Notes that the source is known to differ from its snapshot at `at` (found by a
    /// comparison, not an event): due as soon as `WATCH_MIN_INTERVAL` allows.
    pub fn differs(&mut self, at: Instant) {
        self.change(at);
        if let Some(b) = &mut self.burst {
            b.now = true;
        }
    }

    /// When the snapshot for the changes seen so far is due; None when nothing waits.
    /// After the last change `delay` of quiet, but no later than `max_wait` after the
    /// first; and never before `min_interval` after the last snapshot started (that
    /// rule wins when the two disagree).
    pub fn due(&self, w: &Waits) -> Option<Instant> {
        let b = self.burst?;
        let ready = if b.now {
            b.first
        } else {
            (b.last + w.delay).min(b.first + w.max_wait)
        };
        Some(match self.last_start {
            Some(s) => ready.max(s + w.min_interval),
            None => ready,
        })
    }

    /// Notes that a snapshot starts at `at`: the changes seen so far are its to take;
    /// changes seen from now on make a new burst (the snapshot may have missed them).
    pub fn started(&mut self, at: Instant) {
        self.burst = None;
        self.last_start = Some(at);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn waits() -> Waits {
        Waits {
            delay: Duration::from_secs(5),
            max_wait: Duration::from_secs(300),
            min_interval: Duration::from_secs(60),
        }
    }

    /// A made-up clock: instants as seconds after a fixed start.
    struct Clock(Instant);

    impl Clock {
        fn at(&self, secs: u64) -> Instant {
            self.0 + Duration::from_secs(secs)
        }
    }

    #[test]
    fn nothing_seen_is_never_due() {
        assert_eq!(Schedule::default().due(&waits()), None);
    }

    #[test]
    fn a_burst_is_due_after_its_last_change_settles() {
        let c = Clock(Instant::now());
        let mut s = Schedule::default();
        // A burst of a thousand changes within 2 s: one snapshot, 5 s after the last.
        for ms in 0..1000u64 {
            s.change(c.0 + Duration::from_millis(ms * 2));
        }
        assert_eq!(
            s.due(&waits()),
            Some(c.0 + Duration::from_millis(1998 + 5000))
        );
    }

    #[test]
    fn the_due_time_follows_the_rules() {
        let c = Clock(Instant::now());
        // (changes at, last snapshot started at, due at)
        let cases: [(&[u64], Option<u64>, u64); 5] = [
            // One change: 5 s of quiet.
            (&[100], None, 105),
            // Changes every 4 s never settle: max_wait from the first one wins.
            (&[100, 104, 108, 112], None, 117),
            // A change that never stops: due at first + max_wait.
            (&[100, 150, 200, 250, 300, 350, 399], None, 400),
            // A snapshot started 10 s ago: not before 60 s after it.
            (&[100], Some(90), 150),
            // min_interval wins over max_wait.
            (&[100, 101], Some(99), 159),
        ];
        for (changes, last, want) in cases {
            let mut s = Schedule::default();
            if let Some(t) = last {
                s.started(c.at(t));
            }
            for &t in changes {
                s.change(c.at(t));
            }
            assert_eq!(s.due(&waits()), Some(c.at(want)), "{changes:?} {last:?}");
        }
    }

    #[test]
    fn a_known_difference_is_due_at_once_but_within_min_interval() {
        let c = Clock(Instant::now());
        let mut s = Schedule::default();
        s.differs(c.at(10));
        assert_eq!(s.due(&waits()), Some(c.at(10)));
        s.started(c.at(10));
        assert_eq!(s.due(&waits()), None);
        s.differs(c.at(20));
        assert_eq!(s.due(&waits()), Some(c.at(70)));
    }

    #[test]
    fn changes_during_a_snapshot_make_a_new_burst() {
        let c = Clock(Instant::now());
        let mut s = Schedule::default();
        s.change(c.at(0));
        s.started(c.at(5));
        assert_eq!(s.due(&waits()), None);
        s.change(c.at(6));
        // 5 s of quiet would be at 11, but the last snapshot started at 5.
        assert_eq!(s.due(&waits()), Some(c.at(65)));
    }
}
