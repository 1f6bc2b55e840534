//! Browsing a sweep's `--out` records: per-variant summaries, one row per (variant, seed),
//! sorted by a figure, filtered by variant.

use std::cmp::Ordering;

use faultline_scenarios::sweep::{self, SeedRecord, SweepReport};

/// Sort keys, in the order `s` cycles through them.
pub const SORTS: [&str; 8] =
    ["worst", "seed", "success_rate", "latency_p50_ms", "latency_p99_ms", "latency_p999_ms", "timed_out", "anomalies"];

pub struct SweepView {
    /// The file it came from (for the title).
    pub file: String,
    pub records: Vec<SeedRecord>,
    /// Variants in first-seen order.
    pub variants: Vec<String>,
    pub summary: SweepReport,
    pub sort: usize,
    pub reversed: bool,
    /// Index into `variants`; `None`: all.
    pub filter: Option<usize>,
    /// Indices into `records` in display order.
    pub rows: Vec<usize>,
    /// Position in `rows`.
    pub selected: usize,
}

pub fn anomalies(r: &SeedRecord) -> u64 {
    r.anomalies.values().sum()
}

/// The sort key: ascending is worst first for every figure (lowest success rate; highest
/// latency, timeouts, anomalies), and seeds in order.
fn key(r: &SeedRecord, sort: &str) -> f64 {
    match sort {
        "seed" => r.seed as f64,
        // No value (no request sent) sorts as the worst rate.
        "success_rate" => r.success_rate().unwrap_or(f64::NEG_INFINITY),
        // No value (nothing succeeded) sorts as the worst latency.
        "latency_p50_ms" => -r.latency_ms.p50.unwrap_or(f64::INFINITY),
        "latency_p99_ms" => -r.latency_ms.p99.unwrap_or(f64::INFINITY),
        "latency_p999_ms" => -r.latency_ms.p999.unwrap_or(f64::INFINITY),
        "timed_out" => -(r.requests.timed_out as f64),
        "anomalies" => -(anomalies(r) as f64),
        _ => 0.0,
    }
}

/// The sweep's own notion of worst: lowest success rate, then highest p99 (none: worst), then
/// seed.
fn worst_first(a: &SeedRecord, b: &SeedRecord) -> Ordering {
    a.worst_first(b).then(a.variant.cmp(&b.variant))
}

impl SweepView {
    pub fn new(file: &str, records: Vec<SeedRecord>) -> SweepView {
        let mut variants: Vec<String> = Vec::new();
        for r in &records {
            if !variants.contains(&r.variant) {
                variants.push(r.variant.clone());
            }
        }
        let scenario = records.first().map_or(String::new(), |r| r.scenario.clone());
        let summary = sweep::aggregate(&scenario, &variants, &records);
        let mut v = SweepView {
            file: file.to_owned(),
            records,
            variants,
            summary,
            sort: 0,
            reversed: false,
            filter: None,
            rows: Vec::new(),
            selected: 0,
        };
        v.arrange();
        v
    }

    /// The order, in words: `p99 (worst first)`, `seed (reversed)`.
    pub fn order(&self) -> String {
        let name = match SORTS[self.sort] {
            "success_rate" => "ok %",
            "latency_p50_ms" => "p50",
            "latency_p99_ms" => "p99",
            "latency_p999_ms" => "p99.9",
            "timed_out" => "t/o",
            s => s,
        };
        match (SORTS[self.sort], self.reversed) {
            ("worst", false) => "worst first".to_owned(),
            ("worst", true) => "best first".to_owned(),
            ("seed", false) => "seed".to_owned(),
            ("seed", true) => "seed (reversed)".to_owned(),
            (_, false) => format!("{name} (worst first)"),
            (_, true) => format!("{name} (best first)"),
        }
    }

    pub fn scenario(&self) -> &str {
        self.records.first().map_or("", |r| r.scenario.as_str())
    }

    /// Recomputes the visible rows (after a sort or filter change) and selects the first.
    fn arrange(&mut self) {
        let sort = SORTS[self.sort];
        let filter = self.filter.map(|i| self.variants[i].as_str());
        let mut rows: Vec<usize> =
            (0..self.records.len()).filter(|&i| filter.is_none_or(|v| self.records[i].variant == v)).collect();
        let recs = &self.records;
        rows.sort_by(|&a, &b| {
            let (ra, rb) = (&recs[a], &recs[b]);
            let o = if sort == "worst" { worst_first(ra, rb) } else { key(ra, sort).total_cmp(&key(rb, sort)) };
            o.then(ra.seed.cmp(&rb.seed)).then(ra.variant.cmp(&rb.variant))
        });
        if self.reversed {
            rows.reverse();
        }
        self.rows = rows;
        self.selected = 0;
    }

    pub fn sort_next(&mut self) {
        self.sort = (self.sort + 1) % SORTS.len();
        self.arrange();
    }

    pub fn reverse(&mut self) {
        self.reversed = !self.reversed;
        self.arrange();
    }

    pub fn filter_next(&mut self) {
        self.filter = match self.filter {
            None if !self.variants.is_empty() => Some(0),
            Some(i) if i + 1 < self.variants.len() => Some(i + 1),
            _ => None,
        };
        self.arrange();
    }

    pub fn move_by(&mut self, delta: isize) {
        let n = self.rows.len();
        if n > 0 {
            self.selected = self.selected.saturating_add_signed(delta).min(n - 1);
        }
    }

    pub fn selected_record(&self) -> Option<&SeedRecord> {
        self.rows.get(self.selected).map(|&i| &self.records[i])
    }

    /// The worst record among the visible rows.
    pub fn worst(&self) -> Option<&SeedRecord> {
        self.rows.iter().map(|&i| &self.records[i]).min_by(|a, b| worst_first(a, b))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use faultline_models::report::{LatencySummary, Requests};

    /// Through JSON, as `--out` files are read (fields added later with defaults need no edit).
    fn rec(variant: &str, seed: u64, ok: u64, p99: f64) -> SeedRecord {
        let v = serde_json::json!({
            "scenario": "s", "variant": variant, "seed": seed, "status": "ok", "trace_hash": "00", "events": 1,
            "requests": Requests { total: 100, ok, failed: 100 - ok, timed_out: 0 },
            "latency_ms": LatencySummary { p99: Some(p99), ..LatencySummary::default() },
            "anomalies": {}, "latency_buckets": [[1_000_000, ok]],
        });
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn sorts_filters_and_finds_the_worst() {
        let mut v = SweepView::new("f", vec![rec("a", 1, 90, 5.0), rec("a", 2, 80, 4.0), rec("b", 1, 80, 9.0)]);
        assert_eq!(v.variants, ["a", "b"]);
        let order = |v: &SweepView| {
            v.rows.iter().map(|&i| (v.records[i].variant.clone(), v.records[i].seed)).collect::<Vec<_>>()
        };
        assert_eq!(order(&v), [("b".into(), 1), ("a".into(), 2), ("a".into(), 1)]);
        assert_eq!(v.worst().map(|r| (r.variant.as_str(), r.seed)), Some(("b", 1)));
        v.sort_next(); // seed
        assert_eq!(order(&v)[0].1, 1);
        // Every figure sorts worst first: lowest success rate, highest p99.
        v.sort_next();
        assert_eq!((v.order(), order(&v)[2].clone()), ("ok % (worst first)".to_owned(), ("a".into(), 1)));
        for _ in 0..2 {
            v.sort_next();
        }
        assert_eq!((v.order(), order(&v)[0].clone()), ("p99 (worst first)".to_owned(), ("b".into(), 1)));
        for _ in 0..5 {
            v.sort_next();
        }
        assert_eq!(v.order(), "seed");
        v.reverse();
        assert_eq!(order(&v)[0].1, 2);
        v.filter_next(); // only `a`
        assert_eq!(order(&v).len(), 2);
        assert_eq!(v.worst().map(|r| r.seed), Some(2));
        v.move_by(5);
        assert_eq!(v.selected, 1);
        v.filter_next();
        v.filter_next();
        assert_eq!((v.filter, v.rows.len()), (None, 3));
        assert_eq!(v.summary.variants.len(), 2);
    }
}
