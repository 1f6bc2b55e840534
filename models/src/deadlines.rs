//! Deadlines behind one timer.
//!
//! When every deadline of a kind is "now + the same timeout" (a caller's attempt timeout per
//! target, a balancer's idle timeout, a broker's visibility timeout), they come due in the
//! order they were set. So they can wait in a FIFO behind a single engine timer for the
//! earliest, instead of one queued event each: most of them are met (the call answered, the
//! message acknowledged) long before they pass, and such entries are just skipped when they
//! reach the front. This keeps the event queue small (16 bytes per deadline instead of a
//! pending event) and saves an event per met deadline.
//!
//! Each deadline still fires at exactly its own time: the timer is re-armed for the next
//! entry that is still live.

use std::collections::VecDeque;

use faultline_sim::Nanos;

use crate::msg::{Outbox, Timer};

#[derive(Debug, Default)]
pub struct Deadlines {
    /// `(due, id)` in the order set, hence in due order.
    queue: VecDeque<(Nanos, u64)>,
    /// Whether a timer is pending for the front.
    armed: bool,
}

impl Deadlines {
    /// Sets a deadline `timeout` from `now` for `id`, arming `timer` if none is pending.
    /// `timeout` must be the same for every deadline of this FIFO.
    #[inline]
    pub fn set(&mut self, now: Nanos, timeout: Nanos, id: u64, out: &mut Outbox, timer: Timer) {
        debug_assert!(self.queue.back().is_none_or(|&(due, _)| due <= now.saturating_add(timeout)));
        self.queue.push_back((now.saturating_add(timeout), id));
        if !self.armed {
            // For the front, not the new entry: while expiries are being handled (after
            // `fired`), earlier deadlines may still wait.
            self.armed = true;
            let due = self.queue.front().expect("just pushed").0;
            out.timer(due.saturating_sub(now), timer);
        }
    }

    /// The timer fired: call once, then [`Deadlines::expired`] until it returns `None`.
    #[inline]
    pub fn fired(&mut self) {
        self.armed = false;
    }

    /// The next id whose deadline has passed and that `live` says is still waiting, in due
    /// order. Entries no longer live are dropped on the way. When none is due, re-arms `timer`
    /// for the next live one and returns `None`.
    #[inline]
    pub fn expired(&mut self, now: Nanos, out: &mut Outbox, timer: Timer, live: impl Fn(u64) -> bool) -> Option<u64> {
        while let Some(&(due, id)) = self.queue.front() {
            if !live(id) {
                self.queue.pop_front(); // met before it passed
                continue;
            }
            if due > now {
                if !self.armed {
                    self.armed = true;
                    out.timer(due - now, timer);
                }
                return None;
            }
            self.queue.pop_front();
            return Some(id);
        }
        None
    }

    /// Forgets every deadline (a crash; the world drops the pending timer).
    pub fn clear(&mut self) {
        self.queue.clear();
        self.armed = false;
    }

    /// Deadlines held, met ones not yet skipped included.
    pub fn len(&self) -> usize {
        self.queue.len()
    }

    pub fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: Timer = Timer::Deadline(3);

    #[test]
    fn one_timer_for_many_deadlines_each_at_its_own_time() {
        let mut d = Deadlines::default();
        let mut out = Outbox::default();
        d.set(0, 100, 1, &mut out, T);
        d.set(10, 100, 2, &mut out, T);
        d.set(20, 100, 3, &mut out, T);
        assert_eq!(out.timers, vec![(100, T)], "one timer, for the earliest");
        out.timers.clear();
        // At 100: id 1 is met already (skipped), id 2 is not due until 110.
        d.fired();
        assert_eq!(d.expired(100, &mut out, T, |id| id != 1), None);
        assert_eq!(out.timers, vec![(10, T)], "re-armed for the next live deadline");
        out.timers.clear();
        d.fired();
        assert_eq!(d.expired(120, &mut out, T, |_| true), Some(2));
        assert_eq!(d.expired(120, &mut out, T, |_| true), Some(3));
        assert_eq!(d.expired(120, &mut out, T, |_| true), None);
        assert!(out.timers.is_empty() && d.is_empty());
    }

    #[test]
    fn a_deadline_set_while_handling_expiries_arms_only_one_timer() {
        let mut d = Deadlines::default();
        let mut out = Outbox::default();
        d.set(0, 100, 1, &mut out, T);
        d.set(50, 100, 2, &mut out, T);
        out.timers.clear();
        d.fired();
        assert_eq!(d.expired(100, &mut out, T, |_| true), Some(1));
        // Handling id 1 sends a new attempt at once (a retry without backoff).
        d.set(100, 100, 3, &mut out, T);
        assert_eq!(d.expired(100, &mut out, T, |_| true), None);
        assert_eq!(out.timers, vec![(50, T)], "one timer, for id 2 (due at 150), not for id 3");
        assert_eq!(d.len(), 2);
        d.clear();
        assert!(d.is_empty());
    }

    #[test]
    fn due_times_far_apart_and_equal_each_fire_at_their_own_time() {
        // Equal due times, gaps of a few ns and of more than 2^32 ns, and reuse after emptying.
        let mut d = Deadlines::default();
        let mut out = Outbox::default();
        let timeout = 1_000;
        let sets = [0, 0, 5, (1 << 32) - 2, (1 << 32) + 3, 3 << 33, (3 << 33) + 1, (3 << 33) + (1 << 32)];
        for (id, &t) in sets.iter().enumerate() {
            d.set(t, timeout, id as u64, &mut out, T);
        }
        assert_eq!(d.len(), sets.len());
        let mut dues: Vec<u64> = sets.iter().map(|t| t + timeout).collect();
        dues.dedup();
        let mut fired = Vec::new();
        for due in dues {
            d.fired();
            out.timers.clear();
            // Just before: nothing, and the timer is re-armed for exactly this due time.
            assert_eq!(d.expired(due - 1, &mut out, T, |_| true), None, "due {due}");
            assert_eq!(out.timers, vec![(1, T)], "due {due}");
            d.fired();
            while let Some(x) = d.expired(due, &mut out, T, |_| true) {
                fired.push((x, due));
            }
        }
        let expected: Vec<(u64, u64)> = sets.iter().enumerate().map(|(id, t)| (id as u64, t + timeout)).collect();
        assert_eq!(fired, expected);
        assert!(d.is_empty());
        d.set(1 << 40, timeout, 99, &mut out, T);
        d.fired();
        assert_eq!(d.expired((1 << 40) + timeout, &mut out, T, |_| true), Some(99));
    }

    #[test]
    fn skipping_met_deadlines_keeps_the_later_due_times() {
        let mut d = Deadlines::default();
        let mut out = Outbox::default();
        for (id, t) in [(1, 0), (2, 7), (3, 1 << 33), (4, (1 << 33) + 9)] {
            d.set(t, 100, id, &mut out, T);
        }
        d.fired();
        // 1 and 3 were met: 2 fires at 107, 4 at 2^33 + 109, nothing in between.
        let live = |id: u64| id.is_multiple_of(2);
        assert_eq!(d.expired(107, &mut out, T, live), Some(2));
        assert_eq!(d.expired((1 << 33) + 108, &mut out, T, live), None);
        d.fired();
        assert_eq!(d.expired((1 << 33) + 109, &mut out, T, live), Some(4));
        assert!(d.is_empty());
    }
}
