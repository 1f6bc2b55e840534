//! Outlier detection (passive health checking, as Envoy's `consecutive_5xx`), shared by load
//! balancers and client-side balancing: a backend that answers `consecutive_errors` requests in
//! a row with anything but `Ok` is ejected from its [`Picker`] for `base_ejection` times its
//! ejections in a row (at most `max_ejection`), unless `max_ejection_percent` of the backends
//! are ejected already (one may always be). An `Ok` resets the errors, and, once the backend is
//! back, its ejections in a row; answers that arrive while it is ejected count for nothing.
//! Semantics and their differences from Envoy's: docs/scenario-format.md ("Outlier detection").

use faultline_sim::Nanos;

use crate::calls::Picker;
use crate::spec::OutlierDetection;

/// What outlier detection knows of one backend.
#[derive(Clone, Copy, Debug, Default)]
struct Backend {
    /// Answers other than `Ok` in a row.
    errors: u32,
    /// Ejections with no `Ok` answer between them: the next lasts this many + 1 base times.
    in_a_row: u32,
    /// While ejected: when it comes back.
    until: Option<Nanos>,
}

#[derive(Clone, Debug)]
pub struct Outliers {
    pub policy: OutlierDetection,
    backends: Vec<Backend>,
    ejected: usize,
    /// The earliest end of an ejection (`Nanos::MAX` with none), so that callers without a
    /// timer of their own can end ejections lazily at one comparison per pick.
    next_end: Nanos,
}

impl Outliers {
    pub fn new(policy: OutlierDetection, backends: usize) -> Outliers {
        Outliers { policy, backends: vec![Backend::default(); backends], ejected: 0, next_end: Nanos::MAX }
    }

    /// Backends ejected now.
    pub fn ejected(&self) -> usize {
        self.ejected
    }

    /// An answer from backend `b` (`ok`, or an error or a timeout of a request to it). When it
    /// ejects `b` (out of `picker`), returns for how long. Out of line: callers without outlier
    /// detection keep their answer path as it was.
    #[inline(never)]
    pub fn observe(&mut self, now: Nanos, b: usize, ok: bool, picker: &mut Picker) -> Option<Nanos> {
        let d = self.policy;
        let n = self.backends.len();
        let ejected = self.ejected;
        let o = &mut self.backends[b];
        if o.until.is_some() {
            return None;
        }
        if ok {
            o.errors = 0;
            o.in_a_row = 0;
            return None;
        }
        o.errors = o.errors.saturating_add(1);
        // When the cap holds a backend back, its next error tries again.
        if o.errors < d.consecutive_errors || ejected >= d.max_ejected(n) {
            return None;
        }
        o.in_a_row = o.in_a_row.saturating_add(1);
        let time = d.base_ejection.saturating_mul(u64::from(o.in_a_row)).min(d.max_ejection.max(d.base_ejection));
        let until = now.saturating_add(time);
        o.until = Some(until);
        o.errors = 0;
        self.ejected += 1;
        self.next_end = self.next_end.min(until);
        picker.set_ejected(b, true);
        Some(time)
    }

    /// Ends `b`'s ejection if it is due by `now`; whether it did.
    pub fn end(&mut self, now: Nanos, b: usize, picker: &mut Picker) -> bool {
        let Some(o) = self.backends.get_mut(b) else { return false };
        if o.until.is_none_or(|t| t > now) {
            return false;
        }
        o.until = None;
        o.errors = 0;
        self.ejected -= 1;
        picker.set_ejected(b, false);
        self.next_end = self.backends.iter().filter_map(|o| o.until).min().unwrap_or(Nanos::MAX);
        true
    }

    /// Ends every ejection due by `now`, for callers that set no timer; one comparison when
    /// none is due.
    #[inline]
    pub fn end_due(&mut self, now: Nanos, picker: &mut Picker) {
        if now >= self.next_end {
            self.end_all_due(now, picker);
        }
    }

    #[inline(never)]
    fn end_all_due(&mut self, now: Nanos, picker: &mut Picker) {
        for b in 0..self.backends.len() {
            self.end(now, b, picker);
        }
    }

    /// Forgets everything (a crash): every backend back in.
    pub fn reset(&mut self, picker: &mut Picker) {
        for (b, o) in self.backends.iter_mut().enumerate() {
            *o = Backend::default();
            picker.set_ejected(b, false);
        }
        self.ejected = 0;
        self.next_end = Nanos::MAX;
    }
}
