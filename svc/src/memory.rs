//! [`Ceiling`]: a process's memory ceiling, kept by refusing work rather
//! than growing past it.
//!
//! Work that may take much memory (a peer's message being put together
//! from its parts, or being applied) first asks for a [`Reservation`] of
//! what it may take. It is granted when the resident set now, plus what is
//! reserved by work in flight, plus what is asked fits under the ceiling;
//! otherwise the work is refused with [`OverCeiling`], which says the
//! figures, and the peer tries again later. A reservation is given back
//! when it is dropped.
//!
//! The resident set is read from `/proc/self/status`; where it cannot be
//! read, only reservations count. The allocator may keep memory freed by
//! finished work, so the resident set can stay above what is in use: set
//! the ceiling with room below the service's `MemoryMax`.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// Work refused because it would take the process past its ceiling.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{what} would need about {need_mib} MiB, and the process holds {resident_mib} MiB with {reserved_mib} MiB reserved by work in flight: over its memory ceiling of {ceiling_mib} MiB ({setting}); try again later"
)]
pub struct OverCeiling {
    pub what: String,
    pub need_mib: u64,
    pub resident_mib: u64,
    pub reserved_mib: u64,
    pub ceiling_mib: u64,
    /// The setting that sets the ceiling.
    pub setting: &'static str,
}

struct Inner {
    max_bytes: u64,
    reserved: AtomicU64,
    setting: &'static str,
}

/// A process's memory ceiling, shared by everything that reserves under
/// it (a cheap `Clone` handle).
#[derive(Clone, Default)]
pub struct Ceiling(Option<Arc<Inner>>);

impl std::fmt::Debug for Ceiling {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.0 {
            None => f.write_str("Ceiling(none)"),
            Some(i) => write!(
                f,
                "Ceiling({} MiB, {} MiB reserved)",
                i.max_bytes >> 20,
                i.reserved.load(Ordering::Relaxed) >> 20
            ),
        }
    }
}

impl PartialEq for Ceiling {
    fn eq(&self, other: &Self) -> bool {
        match (&self.0, &other.0) {
            (None, None) => true,
            (Some(a), Some(b)) => Arc::ptr_eq(a, b),
            _ => false,
        }
    }
}

impl Eq for Ceiling {}

impl Ceiling {
    /// No ceiling: every reservation is granted.
    pub fn none() -> Self {
        Ceiling(None)
    }

    /// A ceiling of `max_bytes`, named `setting` in refusals.
    pub fn new(max_bytes: u64, setting: &'static str) -> Self {
        Ceiling(Some(Arc::new(Inner {
            max_bytes,
            reserved: AtomicU64::new(0),
            setting,
        })))
    }

    /// What work in flight holds reserved now, bytes.
    pub fn reserved(&self) -> u64 {
        self.0
            .as_ref()
            .map_or(0, |i| i.reserved.load(Ordering::Relaxed))
    }

    /// Reserves `bytes` for `what`, or refuses (see the module docs).
    pub fn reserve(&self, bytes: u64, what: &str) -> Result<Reservation, OverCeiling> {
        let resident = match &self.0 {
            None => 0,
            Some(_) => crate::process::memory(None).map_or(0, |m| m.rss_kib * 1024),
        };
        self.reserve_with(resident, bytes, what)
    }

    /// [`Self::reserve`] with the resident set given (for tests).
    pub fn reserve_with(
        &self,
        resident: u64,
        bytes: u64,
        what: &str,
    ) -> Result<Reservation, OverCeiling> {
        let Some(inner) = &self.0 else {
            return Ok(Reservation {
                inner: None,
                bytes: 0,
            });
        };
        let mut reserved = inner.reserved.load(Ordering::Relaxed);
        loop {
            let total = resident.saturating_add(reserved).saturating_add(bytes);
            if total > inner.max_bytes {
                return Err(OverCeiling {
                    what: what.to_string(),
                    need_mib: bytes.div_ceil(1 << 20),
                    resident_mib: resident >> 20,
                    reserved_mib: reserved >> 20,
                    ceiling_mib: inner.max_bytes >> 20,
                    setting: inner.setting,
                });
            }
            match inner.reserved.compare_exchange_weak(
                reserved,
                reserved + bytes,
                Ordering::AcqRel,
                Ordering::Relaxed,
            ) {
                Ok(_) => {
                    return Ok(Reservation {
                        inner: Some(inner.clone()),
                        bytes,
                    });
                }
                Err(now) => reserved = now,
            }
        }
    }
}

/// Memory reserved under a [`Ceiling`], given back on drop.
#[must_use = "the memory is given back as soon as the reservation is dropped"]
pub struct Reservation {
    inner: Option<Arc<Inner>>,
    bytes: u64,
}

impl Reservation {
    pub fn bytes(&self) -> u64 {
        self.bytes
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        if let Some(i) = &self.inner {
            i.reserved.fetch_sub(self.bytes, Ordering::AcqRel);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: u64 = 1 << 20;

    #[test]
    fn reservations_count_until_dropped_and_the_refusal_says_the_figures() {
        let c = Ceiling::new(100 * MIB, "memory_ceiling_mib");
        let a = c.reserve_with(50 * MIB, 30 * MIB, "a message").unwrap();
        assert_eq!(c.reserved(), 30 * MIB);
        let e = c
            .reserve_with(50 * MIB, 30 * MIB, "another message")
            .err()
            .expect("50 + 30 + 30 is over 100");
        assert_eq!(
            (e.need_mib, e.resident_mib, e.reserved_mib, e.ceiling_mib),
            (30, 50, 30, 100)
        );
        let text = e.to_string();
        assert!(
            text.contains("another message") && text.contains("memory_ceiling_mib"),
            "{text}"
        );
        drop(a);
        assert_eq!(c.reserved(), 0);
        assert!(c.reserve_with(50 * MIB, 30 * MIB, "again").is_ok());
    }

    #[test]
    fn no_ceiling_grants_everything_and_reserves_nothing() {
        let c = Ceiling::none();
        let r = c.reserve(u64::MAX, "anything").unwrap();
        assert_eq!((r.bytes(), c.reserved()), (0, 0));
    }

    #[test]
    fn the_resident_set_counts() {
        let c = Ceiling::new(100 * MIB, "x");
        assert!(c.reserve_with(99 * MIB, 2 * MIB, "m").is_err());
        assert!(c.reserve_with(98 * MIB, 2 * MIB, "m").is_ok());
    }
}
