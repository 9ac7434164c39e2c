//! The demo street at the coordinator (6 communities and 1 village, 23
//! compounds, 3,000 households each, 30 days of activity) and its first
//! full rollup; shared by the `rollup` bench and the floor bench's
//! `street_rollup` row. Needs `rows/load.rs` included beside it.
//!
//! The seeded street is written into a coordinator store; the coordinator's
//! replicas are opened on it as the service does, in this process. The
//! first full rollup loads every registry, cases and today's activity,
//! hydrates and computes. Its floor is Automerge loading the same stored
//! bytes (every community's registry, cases and today's activity, and the
//! street document) in process: what the first rollup cannot avoid.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use gridsync_coordinator::replicas::{ReplicasConfig, StreetReplicas};
use gridsync_core::report::DailyReport;
use gridsync_core::{Day, DocId};
use gridsync_testkit::demo_street::{self, SeededStreet, StreetSpec};
use gridsync_testkit::now_ms;

use crate::load;

/// The street's time zone (the demo street's).
pub const TZ: chrono_tz::Tz = chrono_tz::Asia::Shanghai;

/// A seeded demo street on disk.
pub struct DemoStreet {
    pub dir: tempfile::TempDir,
    pub seeded: SeededStreet,
    pub today: Day,
    pub seed_took: Duration,
}

/// Seeds the standard demo street, `households` households a community.
pub fn seed(households: usize) -> DemoStreet {
    let now = now_ms() - 60_000;
    let today = gridsync_core::replica::day_of_instant(now, TZ).expect("today");
    let dir = tempfile::tempdir().expect("tempdir");
    let mut spec = StreetSpec::standard(20261129, today, now);
    spec.households_per_community = households;
    let t = Instant::now();
    // The layout of `attacks/procs.rs`: each process's folder holds `data`.
    let seeded = demo_street::seed(
        &spec,
        &dir.path().join("coordinator").join("data"),
        &|c| dir.path().join("nodes").join(c.as_str()).join("data"),
        Some(&gridsync_testkit::store_key()),
    )
    .expect("seed the street");
    DemoStreet {
        dir,
        seeded,
        today,
        seed_took: t.elapsed(),
    }
}

impl DemoStreet {
    pub fn coordinator_db(&self) -> PathBuf {
        self.dir
            .path()
            .join("coordinator")
            .join("data")
            .join(demo_street::COORDINATOR_DB_FILE)
    }

    /// A copy of the coordinator's store as seeded, never opened by the
    /// replicas (they write beside it): its folder and file.
    pub fn fresh_copy(&self) -> (tempfile::TempDir, PathBuf) {
        let to = tempfile::tempdir().expect("tempdir");
        let from = self.dir.path().join("coordinator").join("data");
        for e in std::fs::read_dir(&from).expect("the coordinator's folder") {
            let e = e.expect("an entry");
            let name = e.file_name();
            if e.file_type().expect("its type").is_file()
                && !name.to_string_lossy().ends_with(".lock")
            {
                std::fs::copy(e.path(), to.path().join(&name)).expect("copy the store");
            }
        }
        let db = to.path().join(demo_street::COORDINATOR_DB_FILE);
        (to, db)
    }

    /// The coordinator's replicas' settings on the store `db`, as the
    /// service has them.
    pub fn config(&self, db: &Path) -> ReplicasConfig {
        ReplicasConfig {
            street_id: self.seeded.street_id.clone(),
            street_name: self.seeded.street_name.clone(),
            db_path: db.to_path_buf(),
            tz: TZ,
            compact_after_chunks: 256,
            stale_after_ms: 15 * 60 * 1000,
            memory: gridsync_svc::memory::Ceiling::none(),
            store_key: Some(gridsync_testkit::store_key()),
        }
    }

    /// Opens the coordinator's replicas on the store `db`: the time it took.
    pub fn open(&self, db: &Path) -> (StreetReplicas, Duration) {
        let t = Instant::now();
        let r = StreetReplicas::open(self.config(db)).expect("open the replicas");
        (r, t.elapsed())
    }

    /// The documents a full rollup of today reads.
    pub fn rollup_docs(&self) -> Vec<DocId> {
        let mut ids = vec![DocId::Street];
        for c in &self.seeded.communities {
            ids.push(DocId::Registry(c.id.clone()));
            ids.push(DocId::Cases(c.id.clone()));
            for d in gridsync_core::rollup::days_read(self.today, TZ, TZ) {
                ids.push(DocId::Activity(c.id.clone(), d));
            }
        }
        ids
    }

    /// The floor of the first full rollup: Automerge loading the stored
    /// bytes of [`Self::rollup_docs`] in the store `db` (closed), in
    /// process; the time, the documents and their bytes.
    pub fn raw_load(&self, db: &Path) -> (Duration, usize, usize) {
        let (docs, _read) = load::stored_bytes(db, &self.rollup_docs());
        let (_, took) = load::raw_load(&docs);
        (took, docs.len(), load::bytes(&docs))
    }
}

/// The street's report of today: its time.
pub fn rollup(r: &StreetReplicas, today: Day) -> (DailyReport, Duration) {
    let t = Instant::now();
    let report = r.street_report(today, TZ, now_ms()).expect("rollup");
    (report, t.elapsed())
}

/// This process's memory, for a table.
pub fn mem() -> String {
    match gridsync_svc::process::memory(None) {
        Some(m) => format!("RSS {:.0} MiB, peak {:.0} MiB", m.rss_mib(), m.peak_mib()),
        None => "memory unknown".into(),
    }
}
