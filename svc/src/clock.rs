//! The one clock. Every service makes one [`Clock`] in `main` and passes it
//! down; nothing else in the services reads the wall clock, so a test or a
//! simulation can hand the same code a clock of its own.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

/// A source of the current time, in Unix milliseconds. Cheap to clone: a
/// clone reads the same time source.
#[derive(Clone)]
pub struct Clock(Source);

#[derive(Clone)]
enum Source {
    System,
    Manual(Arc<AtomicI64>),
    Fn(Arc<dyn Fn() -> i64 + Send + Sync>),
}

impl Clock {
    /// The machine's wall clock.
    pub fn system() -> Clock {
        Clock(Source::System)
    }

    /// A clock that stands still at `now_ms` until [`Clock::set`] or
    /// [`Clock::advance`] moves it (tests).
    pub fn manual(now_ms: i64) -> Clock {
        Clock(Source::Manual(Arc::new(AtomicI64::new(now_ms))))
    }

    /// A clock that asks `f` (a simulation's notion of time).
    pub fn from_fn(f: impl Fn() -> i64 + Send + Sync + 'static) -> Clock {
        Clock(Source::Fn(Arc::new(f)))
    }

    /// The current time, Unix ms. The wall clock before 1970 reads as 0.
    pub fn now_ms(&self) -> i64 {
        match &self.0 {
            Source::System => std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
                .unwrap_or(0),
            Source::Manual(t) => t.load(Ordering::SeqCst),
            Source::Fn(f) => f(),
        }
    }

    /// Sets a manual clock; other clocks ignore it.
    pub fn set(&self, now_ms: i64) {
        if let Source::Manual(t) = &self.0 {
            t.store(now_ms, Ordering::SeqCst);
        }
    }

    /// Moves a manual clock forward by `ms`; other clocks ignore it.
    pub fn advance(&self, ms: i64) {
        if let Source::Manual(t) = &self.0 {
            t.fetch_add(ms, Ordering::SeqCst);
        }
    }
}

impl Default for Clock {
    fn default() -> Self {
        Clock::system()
    }
}

impl std::fmt::Debug for Clock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.0 {
            Source::System => f.write_str("Clock::system"),
            Source::Manual(t) => write!(f, "Clock::manual({})", t.load(Ordering::SeqCst)),
            Source::Fn(_) => f.write_str("Clock::from_fn"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Clock;

    #[test]
    fn a_manual_clock_moves_only_when_told_and_clones_share_it() {
        let c = Clock::manual(1_000);
        let d = c.clone();
        assert_eq!(c.now_ms(), 1_000);
        c.advance(500);
        assert_eq!(d.now_ms(), 1_500);
        d.set(42);
        assert_eq!(c.now_ms(), 42);
    }

    #[test]
    fn the_system_clock_is_after_2020_and_ignores_set() {
        let c = Clock::system();
        c.set(0);
        assert!(c.now_ms() > 1_577_836_800_000, "{}", c.now_ms());
    }
}
