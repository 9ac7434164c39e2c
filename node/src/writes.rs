//! Group commit of the office API's edits: concurrent acknowledged edits
//! share one SQLite transaction and one fsync, and each is still
//! acknowledged only once it is durable.
//!
//! A write puts its job in the queue, then runs a drain on the blocking
//! pool with the office locked. A drain takes every job queued so far,
//! stages each one in memory ([`Office::stage`]: all or nothing per edit,
//! so one refused edit refuses only itself), commits them together
//! ([`Office::commit_group`]) and only then answers each. While a drain
//! holds the office (its apply and its fsync), the writes that arrive
//! queue up, and the next drain takes them all: the more writers, the
//! larger the group. A drain that finds the queue empty has nothing to do:
//! an earlier drain took its job, and answered it before letting go of the
//! office.
//!
//! If the commit fails, every edit of the group gets its error (the office
//! reloads from the store, so memory keeps none of them). If a job panics,
//! the drain dies with the office locked: the lock is poisoned, the office
//! rebuilt from the store before its next use (`gridsync_svc::blocking`),
//! and every edit of that group is answered with an internal error (its
//! answer was dropped unsent), none of them stored.

use std::sync::{Arc, Mutex, PoisonError};

use gridsync_svc::{ApiError, Shared};
use tokio::sync::oneshot;
use tonic::Status;

use crate::office::Office;

/// What a staged job answers once the group's commit is known.
type Finish = Box<dyn FnOnce(Result<(), Status>) + Send>;
/// A write: stages its edit and says how to answer it.
type Job = Box<dyn FnOnce(&mut Office) -> Option<Finish> + Send>;

/// The office's queue of writes waiting for the next group commit.
#[derive(Clone, Default)]
pub struct WriteQueue(Arc<Mutex<Vec<Job>>>);

impl WriteQueue {
    /// Stages `stage` in the next group and commits it with the others;
    /// answers its result once the group is durable, or the error that
    /// stopped it. `stage` must only stage (no commit of its own), e.g.
    /// [`Office::stage_create`].
    pub async fn write<T, F>(
        &self,
        office: &Shared<Office>,
        now_ms: i64,
        stage: F,
    ) -> Result<T, Status>
    where
        T: Send + 'static,
        F: FnOnce(&mut Office) -> Result<T, ApiError> + Send + 'static,
    {
        let (tx, rx) = oneshot::channel::<Result<T, Status>>();
        let job: Job = Box::new(move |o: &mut Office| match stage(o) {
            Ok(value) => Some(Box::new(move |committed: Result<(), Status>| {
                let _ = tx.send(committed.map(|()| value));
            }) as Finish),
            Err(e) => {
                let _ = tx.send(Err(Status::from(e)));
                None
            }
        });
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(job);
        let queue = self.clone();
        // The drain's own failure (a panic, an office that cannot be
        // rebuilt) reaches this write through its dropped answer.
        let drained = gridsync_svc::blocking(office, move |o| queue.drain(o, now_ms)).await;
        match rx.await {
            Ok(answer) => answer,
            Err(_) => Err(match drained {
                Err(e) => Status::from(ApiError::from(e)),
                // Another write's drain took this one and died (a bug):
                // the office is rebuilt from the store before its next use.
                Ok(()) => Status::from(ApiError::Unavailable {
                    what: "the group commit of this write".into(),
                    source: "the call that ran the group failed inside the service; \
                             the write was not stored"
                        .into(),
                }),
            }),
        }
    }

    /// Stages every queued job and commits them as one group.
    fn drain(&self, office: &mut Office, now_ms: i64) {
        let jobs = std::mem::take(&mut *self.0.lock().unwrap_or_else(PoisonError::into_inner));
        if jobs.is_empty() {
            return;
        }
        let finishes: Vec<Finish> = jobs.into_iter().filter_map(|job| job(office)).collect();
        if finishes.is_empty() {
            return;
        }
        let committed = office
            .commit_group(now_ms)
            .map_err(|e| Status::from(ApiError::from(e)));
        for finish in finishes {
            finish(committed.clone());
        }
    }
}

impl WriteQueue {
    /// Writes waiting for a drain.
    pub fn queued(&self) -> usize {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).len()
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use gridsync_core::{CommunityId, CommunityKind, Compound, DocId, Record};

    use super::*;
    use crate::office::OfficeConfig;
    use crate::service::OfficeHandle;

    const NOW: i64 = 1_796_000_000_000;

    fn office(dir: &std::path::Path) -> Office {
        Office::open(
            OfficeConfig {
                community: CommunityId::parse("c01").unwrap(),
                community_name: "c01".into(),
                community_kind: CommunityKind::Community,
                db_path: dir.join("node.sqlite3"),
                tz: chrono_tz::Asia::Shanghai,
                secret: None,
                compact_after_chunks: 10_000,
                store_key: None,
            },
            NOW,
        )
        .unwrap()
    }

    fn compound(id: &str) -> Record {
        Record::Compound(Compound {
            id: id.into(),
            name: format!("院 {id}"),
            address: None,
        })
    }

    fn registry_chunks(o: &mut Office) -> u64 {
        let id = DocId::Registry(CommunityId::parse("c01").unwrap());
        o.doc_infos()
            .unwrap()
            .into_iter()
            .find(|d| d.id == id)
            .map(|d| d.stats.chunk_count)
            .unwrap()
    }

    /// Writes that queue while the office is busy are staged and committed
    /// together: one new chunk of the registry for all of them, an audit
    /// row each; one refused edit among them refuses only itself; and
    /// every acknowledged one is there after a reopen.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn writes_queued_behind_a_busy_office_commit_as_one_group() {
        let dir = tempfile::tempdir().unwrap();
        let handle = OfficeHandle::new(office(dir.path()));
        handle
            .write(NOW, |o| Ok(o.stage_create(compound("cp_first"), NOW)?))
            .await
            .unwrap();
        let shared = handle.shared();
        // Another call holds the office (on its own thread, as the pool's
        // would) until told to let go.
        let (locked_tx, locked) = std::sync::mpsc::channel();
        let (release, released) = std::sync::mpsc::channel::<()>();
        let busy = {
            let shared = shared.clone();
            std::thread::spawn(move || {
                let mut o = shared.lock().unwrap();
                let before = (registry_chunks(&mut o), o.store().audit_count().unwrap());
                locked_tx.send(before).unwrap();
                let _ = released.recv();
            })
        };
        let (chunks, audits) = locked.recv().unwrap();
        let mut writes = Vec::new();
        for i in 0..8 {
            let h = handle.clone();
            writes.push(tokio::spawn(async move {
                h.write(NOW, move |o| {
                    Ok(o.stage_create(compound(&format!("cp_{i}")), NOW)?)
                })
                .await
            }));
        }
        let h = handle.clone();
        let refused = tokio::spawn(async move {
            h.write(NOW, |o| Ok(o.stage_create(compound("cp_first"), NOW)?))
                .await
        });
        // Every write queued behind the busy office (a wait, not a timing).
        let deadline = Instant::now() + Duration::from_secs(30);
        while handle.queued_writes() < 9 {
            assert!(Instant::now() < deadline, "the writes did not queue");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        release.send(()).unwrap();
        busy.join().unwrap();
        for w in writes {
            w.await.unwrap().expect("a queued write is acknowledged");
        }
        let status = refused.await.unwrap().expect_err("a duplicate is refused");
        assert_eq!(status.code(), tonic::Code::AlreadyExists, "{status:?}");
        {
            let mut o = shared.lock().unwrap();
            assert_eq!(
                registry_chunks(&mut o),
                chunks + 1,
                "one commit for the group"
            );
            assert_eq!(
                o.store().audit_count().unwrap(),
                audits + 8,
                "an audit row per edit"
            );
        }
        drop((handle, shared));
        let mut reopened = office(dir.path());
        for i in 0..8 {
            let id = format!("cp_{i}");
            assert!(
                reopened
                    .get(gridsync_core::Kind::Compound, &id, NOW)
                    .unwrap()
                    .is_some(),
                "{id} acknowledged, not stored"
            );
        }
    }
}
