//! The one way a service runs blocking work (Automerge, SQLite) on shared
//! state: [`blocking`] locks a [`Shared`] value on tokio's blocking pool and
//! runs a closure on it; never on the async threads, never across an
//! `.await`.
//!
//! **A poisoned lock** means an earlier call panicked while holding the
//! value, which may now be half-changed (half an edit in memory, say). The
//! one answer, everywhere: the value is rebuilt with [`Recover::recover`]
//! (from the store, for the office and the street's replicas) before anyone
//! uses it again, and the poison is cleared only once that succeeded; if the
//! rebuild fails, the call fails with [`BlockingError::Unrecovered`] and the
//! next call tries again.

use std::sync::{Arc, Mutex, MutexGuard};

/// Boxed error of a value's own rebuild.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// State shared between requests and tasks. A `std::sync::Mutex` is right:
/// it is locked only on the blocking pool (or in code that never awaits
/// while holding it), and the work under it is blocking anyway.
pub type Shared<T> = Arc<Mutex<T>>;

/// How a value behind a [`Shared`] is made whole again after a call
/// panicked while holding it.
pub trait Recover {
    /// Rebuilds what memory may hold half-changed (from the store, where
    /// there is one). Values that are plain data return `Ok` as they are.
    fn recover(&mut self) -> Result<(), BoxError>;
}

#[derive(Debug, thiserror::Error)]
pub enum BlockingError {
    /// The closure panicked (a bug): the request fails, the value is
    /// rebuilt before its next use.
    #[error("the request failed inside the service: {0}")]
    Panicked(#[source] tokio::task::JoinError),
    /// An earlier call panicked and the value could not be rebuilt.
    #[error("the service's state could not be rebuilt after a failure: {0}")]
    Unrecovered(#[source] BoxError),
}

/// Locks `shared`, rebuilding the value first if an earlier holder
/// panicked (see the module docs). Blocking: call it on the blocking pool
/// or where the lock is never held across an `.await`.
pub fn lock<T: Recover>(shared: &Shared<T>) -> Result<MutexGuard<'_, T>, BlockingError> {
    match shared.lock() {
        Ok(guard) => Ok(guard),
        Err(poisoned) => {
            let mut guard = poisoned.into_inner();
            tracing::error!("a call failed while holding shared state; rebuilding it");
            guard.recover().map_err(BlockingError::Unrecovered)?;
            shared.clear_poison();
            Ok(guard)
        }
    }
}

/// Runs `f` on the blocking pool with `shared` locked (see [`lock`]).
pub async fn blocking<T, R, F>(shared: &Shared<T>, f: F) -> Result<R, BlockingError>
where
    T: Recover + Send + 'static,
    R: Send + 'static,
    F: FnOnce(&mut T) -> R + Send + 'static,
{
    let shared = shared.clone();
    tokio::task::spawn_blocking(move || {
        let mut guard = lock(&shared)?;
        Ok(f(&mut guard))
    })
    .await
    .map_err(BlockingError::Panicked)?
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Counter {
        n: u32,
        recovered: u32,
        fail_recovery: bool,
    }

    impl Recover for Counter {
        fn recover(&mut self) -> Result<(), BoxError> {
            if self.fail_recovery {
                return Err("the store is gone".into());
            }
            self.n = 0;
            self.recovered += 1;
            Ok(())
        }
    }

    fn shared(fail_recovery: bool) -> Shared<Counter> {
        Arc::new(Mutex::new(Counter {
            n: 0,
            recovered: 0,
            fail_recovery,
        }))
    }

    #[tokio::test]
    async fn a_panic_is_an_error_and_the_value_is_rebuilt_before_its_next_use() {
        let s = shared(false);
        blocking(&s, |c| c.n = 5).await.unwrap();
        let e = blocking(&s, |c| {
            c.n = 99;
            panic!("half an edit");
        })
        .await
        .unwrap_err();
        assert!(matches!(e, BlockingError::Panicked(_)), "{e}");
        let (n, recovered) = blocking(&s, |c| (c.n, c.recovered)).await.unwrap();
        assert_eq!((n, recovered), (0, 1));
        // Recovered once, not on every call after.
        let recovered = blocking(&s, |c| c.recovered).await.unwrap();
        assert_eq!(recovered, 1);
    }

    #[tokio::test]
    async fn a_failed_rebuild_fails_the_call_and_is_tried_again() {
        let s = shared(true);
        let _ = blocking(&s, |_| panic!("boom")).await;
        for _ in 0..2 {
            let e = blocking(&s, |c| c.n).await.unwrap_err();
            assert!(matches!(e, BlockingError::Unrecovered(_)), "{e}");
        }
        s.lock().unwrap_or_else(|p| p.into_inner()).fail_recovery = false;
        // Still poisoned, so the next call rebuilds it, then goes on.
        assert_eq!(blocking(&s, |c| c.recovered).await.unwrap(), 1);
    }
}
