//! A community of the demo roster's size (3,000 households, about 9,000
//! residents) built through the office's write path, and what the
//! `community` and `floor` benches measure on it: the roster import and its
//! in-process floor, the cold start of the real `gridsync-node` binary on
//! the store and its floor (Automerge loading the same bytes, with
//! `rows/load.rs`, which a bench including this module includes too), the
//! open's breakdown, memory.
//!
//! The community is `c01` with the test kit's person-key secret, time zone
//! and store key, so that a node binary started by `attacks/procs.rs` (the
//! floor's street) serves the same store.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::load;
use automerge::ActorId;
use gridsync_core::roster::RawRow;
use gridsync_core::{
    CommunityId, CommunityKind, CommunityReplica, CommunityView, DocId, EditContext, Kind,
};
use gridsync_node::office::{Office, OfficeConfig};
use gridsync_store::Store;
use gridsync_testkit::{PERSON_KEY_SECRET_HEX, STORE_FILE, TIME_ZONE, demo_roster};

/// The community the store belongs to (the floor street's node).
pub const COMMUNITY: &str = "c01";
/// The demo roster's seed: 3,000 households make 9,090 rows.
pub const ROSTER_SEED: u64 = 20261129;
/// Roster rows per import request (one commit each).
pub const ROWS_PER_COMMIT: usize = 500;

pub fn community_id() -> CommunityId {
    CommunityId::parse(COMMUNITY).expect("a community id")
}

/// The office's settings for the store in `data_dir`.
pub fn office_config(data_dir: &Path) -> OfficeConfig {
    OfficeConfig {
        community: community_id(),
        community_name: COMMUNITY.into(),
        community_kind: CommunityKind::Community,
        db_path: data_dir.join(STORE_FILE),
        tz: TIME_ZONE,
        secret: Some(gridsync_testkit::person_key_secret()),
        compact_after_chunks: 256,
        store_key: Some(gridsync_testkit::store_key()),
    }
}

/// The demo roster of `households` households, as the import takes it.
pub fn roster(households: usize) -> Vec<RawRow> {
    demo_roster::community_roster(ROSTER_SEED, households)
        .iter()
        .map(|r| (r.line, r.raw_fields()))
        .collect()
}

/// What an import through the office took.
pub struct Imported {
    pub took: Duration,
    pub records_created: u32,
}

/// Imports `rows` into a new store in `data_dir` through `Office` (the
/// API's write path without the socket), [`ROWS_PER_COMMIT`] rows a
/// commit; the office is returned open.
pub fn import(data_dir: &Path, rows: &[RawRow]) -> (Office, Imported) {
    std::fs::create_dir_all(data_dir).expect("the store's folder");
    let started = Instant::now();
    let mut office =
        Office::open(office_config(data_dir), gridsync_testkit::now_ms()).expect("open the office");
    let mut records_created = 0;
    for chunk in rows.chunks(ROWS_PER_COMMIT) {
        let rep = office
            .import(chunk, gridsync_testkit::now_ms())
            .expect("import");
        assert!(
            rep.errors.is_empty(),
            "the demo roster has bad rows: {:?}",
            &rep.errors[..1]
        );
        records_created += rep.records_created;
    }
    let took = started.elapsed();
    (
        office,
        Imported {
            took,
            records_created,
        },
    )
}

/// The import's floor: the same rows, in the same requests, applied to the
/// community in process (the roster checks, Automerge, each request's
/// changes taken for saving as the office takes them) with no store, no
/// disk and no encryption.
pub fn import_floor(rows: &[RawRow]) -> Duration {
    let mut replica = CommunityReplica::new(
        community_id(),
        ActorId::from(&[1u8; 16][..]),
        Some(gridsync_testkit::person_key_secret()),
    );
    let ctx = EditContext {
        now_ms: gridsync_testkit::now_ms(),
        tz: TIME_ZONE,
    };
    let mut new_id = |k: Kind| k.new_id(rand::random::<[u8; 8]>(), None);
    let started = Instant::now();
    for chunk in rows.chunks(ROWS_PER_COMMIT) {
        let rep = gridsync_core::roster::import_rows(
            &mut replica,
            chunk,
            &ctx,
            Some(&gridsync_testkit::person_key_secret()),
            &mut new_id,
        );
        assert!(rep.errors.is_empty(), "the demo roster has bad rows");
        for (id, _bytes, heads) in replica.unsaved() {
            replica.mark_saved(&id, heads);
        }
    }
    started.elapsed()
}

/// Every household of the office's view with its residents' ids.
pub fn households(office: &Office) -> Vec<(String, Vec<String>)> {
    households_in(office.view())
}

/// Every household of `view` with its residents' ids.
pub fn households_in(view: &CommunityView) -> Vec<(String, Vec<String>)> {
    let mut by_household: std::collections::BTreeMap<&str, Vec<String>> = view
        .households
        .keys()
        .map(|h| (h.as_str(), Vec::new()))
        .collect();
    for r in view.residents.values() {
        if let Some(v) = by_household.get_mut(r.household_id.as_str()) {
            v.push(r.id.clone());
        }
    }
    by_household
        .into_iter()
        .map(|(h, rs)| (h.to_string(), rs))
        .collect()
}

/// Checkpoints the store in `data_dir` (closed) so that its one file holds
/// everything; its size on disk.
pub fn checkpoint(data_dir: &Path) -> u64 {
    let store = Store::open(
        &data_dir.join(STORE_FILE),
        Some(&gridsync_testkit::store_key()),
    )
    .expect("open the store");
    store.checkpoint().expect("checkpoint");
    store.file_bytes()
}

/// The documents `Office::open` loads: registry, cases and today's
/// activity (when stored).
pub fn open_docs() -> Vec<DocId> {
    let c = community_id();
    let today = gridsync_testkit::day_of(gridsync_testkit::now_ms());
    vec![
        DocId::Registry(c.clone()),
        DocId::Cases(c.clone()),
        DocId::Activity(c, today),
    ]
}

/// Where `Office::open` spends its time: SQLite reads, Automerge load,
/// hydrating the view; and the chunks read.
pub struct OpenBreakdown {
    pub read: Duration,
    pub load: Duration,
    pub hydrate: Duration,
    pub chunks: usize,
    pub households: usize,
}

pub fn open_breakdown(data_dir: &Path) -> OpenBreakdown {
    let ids = open_docs();
    let (docs, read) = load::stored_bytes(&data_dir.join(STORE_FILE), &ids[..2]);
    let (loaded, loading) = load::raw_load(&docs);
    let started = Instant::now();
    let view = CommunityView::read(&loaded[0], &loaded[1]);
    OpenBreakdown {
        read,
        load: loading,
        hydrate: started.elapsed(),
        chunks: docs.iter().map(|d| d.chunks.len()).sum(),
        households: view.households.len(),
    }
}

/// A cold start of the node binary: to its first served GetStatus.
pub struct ColdStart {
    pub took: Duration,
    pub rss_mib: f64,
    pub peak_mib: f64,
}

/// Peak and current resident memory of a process, in MiB (NaN where
/// /proc does not say).
pub fn mib(pid: u32) -> (f64, f64) {
    gridsync_svc::process::memory(Some(pid))
        .map_or((f64::NAN, f64::NAN), |m| (m.peak_mib(), m.rss_mib()))
}

/// Starts `bin` (gridsync-node) on the store in `data_dir` (its address
/// and key files beside that folder, as `attacks/procs.rs` has them), with no
/// coordinator, and times it from the spawn to its first answered
/// GetStatus; then stops it (SIGTERM).
pub async fn cold_start(bin: &Path, data_dir: &Path) -> ColdStart {
    let beside = data_dir.parent().expect("the data folder is in a folder");
    let addr_file: PathBuf = beside.join("addr");
    let _ = std::fs::remove_file(&addr_file);
    let key_file = gridsync_testkit::store_key_file(&beside.join("key"));
    let started = Instant::now();
    let mut child = std::process::Command::new(bin)
        .args(["--community-id", COMMUNITY, "--listen", "127.0.0.1:0"])
        .args(["--person-key-secret", PERSON_KEY_SECRET_HEX])
        .args(["--time-zone", TIME_ZONE.name()])
        .arg("--data-dir")
        .arg(data_dir)
        .arg("--addr-file")
        .arg(&addr_file)
        .arg("--store-key-file")
        .arg(key_file)
        .env("GRIDSYNC_LOG", "warn")
        .spawn()
        .expect("spawn the node");
    let deadline = Instant::now() + Duration::from_secs(60);
    let addr = loop {
        if let Ok(a) = std::fs::read_to_string(&addr_file)
            && !a.trim().is_empty()
        {
            break a.trim().to_string();
        }
        assert!(Instant::now() < deadline, "the node did not start");
        tokio::time::sleep(Duration::from_millis(2)).await;
    };
    let mut c = gridsync_cli::connect::node(&addr).await.expect("connect");
    c.get_status(gridsync_proto::office::v1::GetStatusRequest {})
        .await
        .expect("status");
    let took = started.elapsed();
    let (peak_mib, rss_mib) = mib(child.id());
    let _ = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let _ = child.wait();
    ColdStart {
        took,
        rss_mib,
        peak_mib,
    }
}

/// Copies the (checkpointed, closed) store of `from` into the data folder
/// `to`.
pub fn copy_store(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("the copy's folder");
    std::fs::copy(from.join(STORE_FILE), to.join(STORE_FILE)).expect("copy the store");
}
