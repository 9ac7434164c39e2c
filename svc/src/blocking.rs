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
pub fn lock<T: Recover>(shared: &Mutex<T>) -> Result<MutexGuard<'_, T>, BlockingError> {
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

/// Locks `shared` if it is free now, or becomes free before `deadline`;
/// `None` if it is still held then (see [`lock`] for a poisoned one). For
/// callers that must not wait on another's long work beyond a bound: they
/// serve what they can without it, or say it is busy. Blocking: it polls
/// every few milliseconds on the calling thread.
pub fn lock_within<T: Recover>(
    shared: &Mutex<T>,
    deadline: std::time::Instant,
) -> Result<Option<MutexGuard<'_, T>>, BlockingError> {
    let mut pause = std::time::Duration::from_micros(200);
    loop {
        match shared.try_lock() {
            Ok(guard) => return Ok(Some(guard)),
            Err(std::sync::TryLockError::Poisoned(poisoned)) => {
                let mut guard = poisoned.into_inner();
                tracing::error!("a call failed while holding shared state; rebuilding it");
                guard.recover().map_err(BlockingError::Unrecovered)?;
                shared.clear_poison();
                return Ok(Some(guard));
            }
            Err(std::sync::TryLockError::WouldBlock) => {}
        }
        let now = std::time::Instant::now();
        if now >= deadline {
            return Ok(None);
        }
        std::thread::sleep(pause.min(deadline - now));
        pause = (pause * 2).min(std::time::Duration::from_millis(5));
    }
}

/// Runs `f` on the blocking pool; a panic in it is an error, not a crash.
/// For state that locks itself inside (the street's replicas, one lock per
/// community): `f` takes the locks it needs, through [`lock`] or
/// [`lock_within`].
pub async fn on_pool<R, F>(f: F) -> Result<R, BlockingError>
where
    R: Send + 'static,
    F: FnOnce() -> R + Send + 'static,
{
    tokio::task::spawn_blocking(f)
        .await
        .map_err(BlockingError::Panicked)
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

/// Runs `f` on `shared` right here, on the calling task's thread, when its
/// lock is free now (and not poisoned); otherwise as [`blocking`] does.
/// For work of microseconds on state held in memory (a replica's heads,
/// read at every heartbeat of every session), which a trip to the blocking
/// pool, with its two thread wake-ups, would cost many times over. `f` must
/// not block: no store, no Automerge work beyond reading heads. Nor may it
/// panic: where [`blocking`] turns a panic into an error, here it unwinds
/// the calling task (the lock is poisoned, and the value rebuilt before
/// its next use, as after any panic).
pub async fn quick<T, R, F>(shared: &Shared<T>, f: F) -> Result<R, BlockingError>
where
    T: Recover + Send + 'static,
    R: Send + 'static,
    F: FnOnce(&mut T) -> R + Send + 'static,
{
    {
        // A poisoned lock's guard is dropped here with its error: the pool
        // path rebuilds the value first.
        if let Ok(mut guard) = shared.try_lock() {
            return Ok(f(&mut guard));
        }
    }
    blocking(shared, f).await
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

    #[test]
    fn lock_within_gives_up_at_its_deadline_and_takes_a_free_lock_at_once() {
        use std::time::{Duration, Instant};
        let s = shared(false);
        let held = s.lock().unwrap();
        let got = lock_within(&s, Instant::now() + Duration::from_millis(20)).unwrap();
        assert!(got.is_none(), "a held lock is not taken");
        drop(held);
        let got = lock_within(&s, Instant::now()).unwrap();
        assert!(got.is_some(), "a free lock is taken even at the deadline");
    }

    #[tokio::test]
    async fn lock_within_rebuilds_a_poisoned_value() {
        let s = shared(false);
        let _ = blocking(&s, |_| panic!("half an edit")).await;
        let g = lock_within(&s, std::time::Instant::now()).unwrap().unwrap();
        assert_eq!(g.recovered, 1);
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

    #[tokio::test]
    async fn quick_runs_here_when_free_and_on_the_pool_otherwise() {
        let s = shared(false);
        let here = std::thread::current().id();
        // Free: on this thread (a current-thread runtime's pool is another).
        let ran_on = quick(&s, |c| {
            c.n = 1;
            std::thread::current().id()
        })
        .await
        .unwrap();
        assert_eq!(ran_on, here);
        // Held by another thread: it waits on the pool for the lock.
        let held = s.clone();
        let (locked_tx, locked) = std::sync::mpsc::channel();
        let (release, released) = std::sync::mpsc::channel::<()>();
        let holder = std::thread::spawn(move || {
            let mut g = held.lock().unwrap();
            locked_tx.send(()).unwrap();
            let _ = released.recv();
            g.n = 2;
        });
        locked.recv().unwrap();
        let call = tokio::spawn({
            let s = s.clone();
            async move { quick(&s, |c| (c.n, std::thread::current().id())).await }
        });
        // This runtime has one thread: yielding runs the call up to its
        // wait for the pool, while the lock is still held.
        tokio::task::yield_now().await;
        release.send(()).unwrap();
        holder.join().unwrap();
        let (n, ran_on) = call.await.unwrap().unwrap();
        assert_eq!(n, 2, "it ran after the holder let go");
        assert_ne!(ran_on, here);
        // Poisoned: rebuilt first, on the pool.
        let _ = blocking(&s, |_| panic!("half an edit")).await;
        let (n, recovered) = quick(&s, |c| (c.n, c.recovered)).await.unwrap();
        assert_eq!((n, recovered), (0, 1));
    }
}
