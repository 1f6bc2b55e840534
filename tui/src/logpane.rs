//! The log pane's source: a `tracing` layer that keeps events in a buffer the app drains after
//! each piece of simulation work, so every line can be stamped with the simulated time of the
//! run that produced it (events that carry `t_ns` keep their own).

use std::fmt::Write as _;
use std::sync::{Arc, Mutex};

use faultline_sim::Nanos;
use tracing::field::{Field, Visit};
use tracing::{Level, Subscriber};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};

/// An event as captured, before the app stamps it.
#[derive(Clone, Debug, PartialEq)]
pub struct Captured {
    pub level: Level,
    pub target: String,
    /// The `t_ns` field, when the event has one.
    pub t_ns: Option<Nanos>,
    pub text: String,
}

/// A line of the log pane.
#[derive(Clone, Debug, PartialEq)]
pub struct LogLine {
    pub t: Nanos,
    /// The run it came from (`A`/`B` in compare; empty with one run).
    pub run: String,
    pub level: Level,
    pub text: String,
}

/// Shared between the layer and the app (the simulation runs on the UI thread; the lock is
/// never contended).
#[derive(Clone, Default)]
pub struct LogBuffer(Arc<Mutex<Vec<Captured>>>);

impl LogBuffer {
    pub fn drain(&self) -> Vec<Captured> {
        match self.0.lock() {
            Ok(mut v) => std::mem::take(&mut *v),
            Err(poisoned) => std::mem::take(&mut *poisoned.into_inner()),
        }
    }

    fn push(&self, c: Captured) {
        let mut v = match self.0.lock() {
            Ok(v) => v,
            Err(poisoned) => poisoned.into_inner(),
        };
        // Bounded: a flood of events between two drains must not grow memory without limit.
        if v.len() < 10_000 {
            v.push(c);
        }
    }
}

pub struct CaptureLayer {
    buf: LogBuffer,
}

struct Fields {
    t_ns: Option<u64>,
    message: String,
    rest: String,
}

impl Visit for Fields {
    fn record_u64(&mut self, field: &Field, value: u64) {
        if field.name() == "t_ns" {
            self.t_ns = Some(value);
        } else {
            let _ = write!(self.rest, " {}={value}", field.name());
        }
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.message = value.to_owned();
        } else {
            let _ = write!(self.rest, " {}={value}", field.name());
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            self.message = format!("{value:?}");
        } else {
            let _ = write!(self.rest, " {}={value:?}", field.name());
        }
    }
}

impl<S: Subscriber> Layer<S> for CaptureLayer {
    fn on_event(&self, event: &tracing::Event<'_>, _ctx: Context<'_, S>) {
        let mut f = Fields { t_ns: None, message: String::new(), rest: String::new() };
        event.record(&mut f);
        let text = if f.rest.is_empty() { f.message } else { format!("{}:{}", f.message, f.rest) };
        let meta = event.metadata();
        self.buf.push(Captured { level: *meta.level(), target: meta.target().to_owned(), t_ns: f.t_ns, text });
    }
}

/// A subscriber that sends events passing `filter` (e.g. `RUST_LOG`) to `buf`.
pub fn subscriber(buf: LogBuffer, filter: EnvFilter) -> impl Subscriber + Send + Sync {
    tracing_subscriber::registry().with(CaptureLayer { buf }.with_filter(filter))
}

/// The default filter: `RUST_LOG` if set, else info and above.
pub fn default_filter() -> EnvFilter {
    EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_are_captured_with_their_simulated_time() {
        let buf = LogBuffer::default();
        let sub = subscriber(buf.clone(), EnvFilter::new("info"));
        tracing::subscriber::with_default(sub, || {
            tracing::info!(t_ns = 5_000_000_000u64, fault = %"eu down", phase = "start", "fault");
            tracing::info!("no time here");
            tracing::debug!("filtered out");
        });
        let got = buf.drain();
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].t_ns, Some(5_000_000_000));
        assert_eq!(got[0].text, "fault: fault=eu down phase=start");
        assert_eq!((got[1].t_ns, got[1].text.as_str()), (None, "no time here"));
        assert!(buf.drain().is_empty());
    }
}
