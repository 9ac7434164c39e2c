//! # gridsync-tests
//!
//! Integration tests across crates: the office API over real gRPC on
//! `127.0.0.1:0`, real `gridsync-node` processes killed with SIGKILL, and
//! real SQLite stores in temporary folders. Nothing is mocked.
//!
//! - `api.rs`: every record kind created, read, updated, listed and removed
//!   through an in-process node; bad input refused with the field named and
//!   nothing changed; the error codes; the queries; a restart on the same
//!   store; gRPC health and reflection.
//! - `kill.rs`: a node process streaming writes is killed with `kill -9` at a
//!   seeded moment, restarted, and every acknowledged write must still be
//!   there (`GRIDSYNC_SEED=<n>` replays a run).
//!
//! - `sync.rs`: a coordinator and nodes in this process (see [`street`]),
//!   over mutual TLS: concurrent edits converge, restarts of either side,
//!   resumption from the persisted sync state within a stated bound, and a
//!   catch-up larger than the message limit.
//! - `binaries.rs`: the README's street with the real binaries: `gridctl
//!   certs`, a coordinator and two nodes over mutual TLS, `gridctl street`.
//! - `access.rs`: every access rule and every kind of bad frame, each
//!   refused with a clear status while nothing stored changes.
//!
//! This library holds what they share: [`InProcessNode`], [`NodeProcess`],
//! the paths of the built binaries ([`node_binary`], [`gridctl_binary`]),
//! and small helpers for records and store snapshots.
//!
//! ## The binaries must be built first
//!
//! The process tests run the `gridsync-node` executable of the same target
//! profile as the test binary; cargo does not build another package's
//! binaries for a test. The README's test command does it:
//!
//! ```text
//! cargo build --workspace --bins && cargo nextest run --workspace
//! ```
//!
//! (or `cargo build -p gridsync-node --bins` before
//! `cargo test -p gridsync-tests`). `GRIDSYNC_NODE_BIN` and `GRIDCTL_BIN`
//! point the tests at other executables.

pub mod sim;
pub mod street;

use std::io::Read;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use gridsync_core::{CommunityId, CommunityKind, Day, PersonKeySecret};
use gridsync_node::office::{Office, OfficeConfig};
use gridsync_node::server::{ServeError, serve};
use gridsync_node::service::{OfficeHandle, now_ms};
use gridsync_proto::office::v1 as pb;
use pb::office_client::OfficeClient;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tonic::transport::{Channel, Endpoint};

/// The community every test node serves.
pub const COMMUNITY: &str = "testcomm";
/// The street's person-key secret of the test nodes (32 bytes, hex).
pub const PERSON_KEY_SECRET_HEX: &str =
    "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
/// The time zone whose days split activity documents.
pub const TIME_ZONE: chrono_tz::Tz = chrono_tz::Asia::Shanghai;
/// Small, so that a test's writes compact documents several times.
pub const COMPACT_AFTER_CHUNKS: u64 = 8;
/// The store file inside a data folder.
pub const STORE_FILE: &str = "gridsync-node.sqlite3";
/// How long a node may take to answer after it is started.
pub const START_DEADLINE: Duration = Duration::from_secs(30);

/// The person-key secret of the test nodes.
pub fn person_key_secret() -> PersonKeySecret {
    PersonKeySecret::from_hex(PERSON_KEY_SECRET_HEX).expect("the test secret is valid hex")
}

/// Connects an office client to `addr`, with a bounded connect time.
pub async fn connect(addr: SocketAddr) -> OfficeClient<Channel> {
    let channel = Endpoint::from_shared(format!("http://{addr}"))
        .expect("a socket address makes a valid URL")
        .connect_timeout(Duration::from_secs(5))
        .connect()
        .await
        .unwrap_or_else(|e| panic!("cannot connect to the node at {addr}: {e}"));
    OfficeClient::new(channel)
}

// ---- a node in this process ----

/// An office served in this process over real gRPC on `127.0.0.1:0`, with
/// its store in `dir`.
pub struct InProcessNode {
    pub addr: SocketAddr,
    pub dir: PathBuf,
    handle: OfficeHandle,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<Result<(), ServeError>>>,
}

impl InProcessNode {
    /// Opens (or creates) the store `dir/gridsync-node.sqlite3` and serves it.
    pub async fn start(dir: &Path) -> InProcessNode {
        let cfg = OfficeConfig {
            community: CommunityId::parse(COMMUNITY).expect("a valid community id"),
            community_name: "Test Community".into(),
            community_kind: CommunityKind::Community,
            db_path: dir.join(STORE_FILE),
            tz: TIME_ZONE,
            secret: Some(person_key_secret()),
            compact_after_chunks: COMPACT_AFTER_CHUNKS,
        };
        let office = tokio::task::spawn_blocking(move || Office::open(cfg, now_ms()))
            .await
            .expect("opening the office panicked")
            .unwrap_or_else(|e| panic!("cannot open the office in {}: {e}", dir.display()));
        let handle = OfficeHandle::new(office);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1:0");
        let addr = listener
            .local_addr()
            .expect("a bound listener has an address");
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(serve(
            handle.clone(),
            Default::default(),
            listener,
            async {
                let _ = stopped.await;
            },
            Duration::from_secs(5),
        ));
        InProcessNode {
            addr,
            dir: dir.to_path_buf(),
            handle,
            stop: Some(stop),
            task: Some(task),
        }
    }

    pub async fn client(&self) -> OfficeClient<Channel> {
        connect(self.addr).await
    }

    /// Stops serving (in-flight requests finish), checkpoints the store and
    /// drops the office, as the binary does on SIGTERM.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            task.await
                .expect("the server task panicked")
                .expect("the server failed");
        }
        self.handle
            .run(|o| o.checkpoint().map_err(tonic::Status::from))
            .await
            .expect("final checkpoint");
    }
}

impl Drop for InProcessNode {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

// ---- the built binaries ----

fn target_binary(name: &str, env_var: &str) -> PathBuf {
    if let Ok(p) = std::env::var(env_var) {
        let p = PathBuf::from(p);
        assert!(
            p.is_file(),
            "{env_var}={} does not name an executable file",
            p.display()
        );
        return p;
    }
    let exe = std::env::current_exe().expect("the test binary knows its path");
    // target/<profile>/deps/<test>-<hash> → target/<profile>/<name>
    let mut dir = exe
        .parent()
        .expect("the test binary is in a folder")
        .to_path_buf();
    if dir.file_name().is_some_and(|n| n == "deps") {
        dir.pop();
    }
    let path = dir.join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    assert!(
        path.is_file(),
        "{} is missing: the process tests run the built binary. Run `cargo build -p gridsync-node --bins` \
         (the README's test command `cargo build --workspace --bins && cargo nextest run --workspace` does it), \
         or point {env_var} at the executable",
        path.display()
    );
    path
}

/// The built `gridsync-node` executable (`GRIDSYNC_NODE_BIN` if set).
pub fn node_binary() -> PathBuf {
    target_binary("gridsync-node", "GRIDSYNC_NODE_BIN")
}

/// The built `gridsync-coordinator` executable (`GRIDSYNC_COORDINATOR_BIN` if set).
pub fn coordinator_binary() -> PathBuf {
    target_binary("gridsync-coordinator", "GRIDSYNC_COORDINATOR_BIN")
}

/// The built `gridctl` executable (`GRIDCTL_BIN` if set).
pub fn gridctl_binary() -> PathBuf {
    target_binary("gridctl", "GRIDCTL_BIN")
}

// ---- a node process ----

/// A `gridsync-node` process serving the store in `dir` on `127.0.0.1:0`.
/// Its log goes to `dir/node-<pid>.log`. Dropping it kills it.
pub struct NodeProcess {
    pub addr: SocketAddr,
    pub dir: PathBuf,
    pub log: PathBuf,
    child: Child,
    exited: Option<ExitStatus>,
}

impl NodeProcess {
    /// Starts the binary on `dir` for `community` and returns once its API
    /// answers `GetStatus` (within [`START_DEADLINE`]).
    pub async fn spawn(dir: &Path, community: &str) -> NodeProcess {
        let addr_file = dir.join("addr");
        match std::fs::remove_file(&addr_file) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => panic!("cannot remove the stale {}: {e}", addr_file.display()),
        }
        let log = dir.join(format!(
            "node-{}.log",
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or(0)
        ));
        let log_file = std::fs::File::create(&log).expect("create the node log");
        let mut cmd = Command::new(node_binary());
        // Settings come only from the flags below.
        for (k, _) in std::env::vars_os() {
            if k.to_string_lossy().starts_with("GRIDSYNC_") {
                cmd.env_remove(k);
            }
        }
        cmd.arg("--community-id")
            .arg(community)
            .arg("--data-dir")
            .arg(dir)
            .arg("--listen")
            .arg("127.0.0.1:0")
            .arg("--addr-file")
            .arg(&addr_file)
            .arg("--person-key-secret")
            .arg(PERSON_KEY_SECRET_HEX)
            .arg("--time-zone")
            .arg(TIME_ZONE.name())
            .arg("--compact-after-chunks")
            .arg(COMPACT_AFTER_CHUNKS.to_string())
            .arg("--shutdown-grace-secs")
            .arg("2")
            .env("GRIDSYNC_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log_file);
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", node_binary().display()));
        let mut node = NodeProcess {
            addr: "127.0.0.1:0".parse().expect("an address"),
            dir: dir.to_path_buf(),
            log,
            child,
            exited: None,
        };
        node.wait_ready(&addr_file).await;
        node
    }

    async fn wait_ready(&mut self, addr_file: &Path) {
        let deadline = Instant::now() + START_DEADLINE;
        loop {
            if let Some(status) = self.child.try_wait().expect("poll the node process") {
                self.exited = Some(status);
                panic!(
                    "gridsync-node exited with {status} before answering; its log:\n{}",
                    self.log_tail()
                );
            }
            if let Ok(text) = std::fs::read_to_string(addr_file)
                && let Ok(addr) = text.trim().parse::<SocketAddr>()
            {
                self.addr = addr;
                if let Ok(Ok(mut c)) = tokio::time::timeout(
                    Duration::from_secs(2),
                    Endpoint::from_shared(format!("http://{addr}"))
                        .expect("a valid URL")
                        .connect(),
                )
                .await
                .map(|r| r.map(OfficeClient::new))
                    && c.get_status(pb::GetStatusRequest {}).await.is_ok()
                {
                    return;
                }
            }
            assert!(
                Instant::now() < deadline,
                "gridsync-node did not answer within {START_DEADLINE:?}; its log:\n{}",
                self.log_tail()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    pub async fn client(&self) -> OfficeClient<Channel> {
        connect(self.addr).await
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Kills the process with SIGKILL (`Child::kill` on unix) and reaps it.
    pub fn kill9(&mut self) -> ExitStatus {
        if let Some(s) = self.exited {
            return s;
        }
        self.child.kill().expect("kill -9 the node");
        self.wait()
    }

    /// Waits for the process to exit.
    pub fn wait(&mut self) -> ExitStatus {
        if let Some(s) = self.exited {
            return s;
        }
        let s = self.child.wait().expect("wait for the node");
        self.exited = Some(s);
        s
    }

    /// The last lines of the node's log, for failure messages.
    pub fn log_tail(&self) -> String {
        let mut s = String::new();
        if let Ok(mut f) = std::fs::File::open(&self.log) {
            let _ = f.read_to_string(&mut s);
        }
        let lines: Vec<&str> = s.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    }
}

impl Drop for NodeProcess {
    fn drop(&mut self) {
        if self.exited.is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

// ---- records and time ----

/// A valid 18-character resident ID number from its first 17 digits (the
/// check character is computed, GB 11643).
pub fn id_number(first17: &str) -> String {
    assert!(
        first17.len() == 17 && first17.bytes().all(|b| b.is_ascii_digit()),
        "{first17:?} is not 17 digits"
    );
    let check = gridsync_core::validate::id_check_char(first17).expect("17 digits");
    format!("{first17}{check}")
}

/// The day of an instant in the nodes' time zone.
pub fn day_of(ms: i64) -> Day {
    gridsync_core::replica::day_of_instant(ms, TIME_ZONE).expect("a representable instant")
}

/// `YYYY-MM-DD`.
pub fn ymd(d: Day) -> String {
    d.format("%Y-%m-%d").to_string()
}

/// An instant for an activity record: a minute ago, but never before the
/// start of today in the nodes' time zone (so that it falls on today).
pub fn activity_instant_ms() -> i64 {
    use chrono::TimeZone;
    let now = now_ms();
    let today = day_of(now);
    let start = TIME_ZONE
        .from_local_datetime(&today.and_hms_opt(0, 0, 0).expect("midnight"))
        .earliest()
        .map(|t| t.timestamp_millis())
        .unwrap_or(now);
    (now - 60_000).max(start).min(now)
}

/// A resident of `household` born on `born`, with an ID number, as the kill
/// tests write them.
pub fn resident_pb(
    id: &str,
    household: String,
    name: String,
    id_number: String,
    born: Day,
    gender: i32,
    lives_alone: bool,
) -> pb::Record {
    pb::Record {
        record: Some(pb::record::Record::Resident(pb::Resident {
            id: id.to_string(),
            household_id: household,
            name,
            id_number: Some(id_number),
            person_key: None,
            gender,
            birth_date: Some(ymd(born)),
            phone: None,
            relation: Some("子女".into()),
            lives_alone,
        })),
    }
}

/// A screening visit of `household` at `at_ms`, each of `residents` present
/// or away as `present` says, as a wire record.
pub fn screening_visit_pb(
    id: &str,
    household: String,
    residents: Vec<String>,
    at_ms: i64,
    mut present: impl FnMut() -> bool,
) -> pb::Record {
    let residents = residents
        .into_iter()
        .map(|r| {
            let status = if present() {
                pb::ScreeningStatus::Present
            } else {
                pb::ScreeningStatus::Away
            };
            (
                r,
                pb::ScreeningEntry {
                    status: status as i32,
                    returned_from: None,
                    returned_on: None,
                },
            )
        })
        .collect();
    pb::Record {
        record: Some(pb::record::Record::ScreeningVisit(pb::ScreeningVisit {
            id: id.to_string(),
            household_id: household,
            visited_at_ms: at_ms,
            visitor: "网格员甲".into(),
            residents,
            notes: None,
        })),
    }
}

/// The day an activity record id names (`sv_20261129_…`), as `YYYY-MM-DD`.
pub fn day_of_id(id: &str) -> String {
    let d = gridsync_core::ids::day_of_activity_id(id)
        .unwrap_or_else(|| panic!("{id:?} is not an activity id"));
    ymd(d)
}

/// The kind name of a wire record (`household`), or "" for an empty one.
pub fn kind_of(r: &pb::Record) -> &'static str {
    use pb::record::Record as R;
    match &r.record {
        None => "",
        Some(R::Compound(_)) => "compound",
        Some(R::Building(_)) => "building",
        Some(R::ContractGroup(_)) => "contract_group",
        Some(R::Household(_)) => "household",
        Some(R::Resident(_)) => "resident",
        Some(R::PartyMember(_)) => "party_member",
        Some(R::Staff(_)) => "staff",
        Some(R::VolunteerTeam(_)) => "volunteer_team",
        Some(R::Volunteer(_)) => "volunteer",
        Some(R::Isolation(_)) => "isolation",
        Some(R::CareRelationship(_)) => "care_relationship",
        Some(R::Ticket(_)) => "ticket",
        Some(R::Returnee(_)) => "returnee",
        Some(R::Notice(_)) => "notice",
        Some(R::ScreeningVisit(_)) => "screening_visit",
        Some(R::CareVisit(_)) => "care_visit",
        Some(R::Inspection(_)) => "inspection",
    }
}

/// The id of a wire record ("" for an empty one).
pub fn id_of(r: &pb::Record) -> &str {
    use pb::record::Record as R;
    match &r.record {
        None => "",
        Some(R::Compound(x)) => &x.id,
        Some(R::Building(x)) => &x.id,
        Some(R::ContractGroup(x)) => &x.id,
        Some(R::Household(x)) => &x.id,
        Some(R::Resident(x)) => &x.id,
        Some(R::PartyMember(x)) => &x.id,
        Some(R::Staff(x)) => &x.id,
        Some(R::VolunteerTeam(x)) => &x.id,
        Some(R::Volunteer(x)) => &x.id,
        Some(R::Isolation(x)) => &x.id,
        Some(R::CareRelationship(x)) => &x.id,
        Some(R::Ticket(x)) => &x.id,
        Some(R::Returnee(x)) => &x.id,
        Some(R::Notice(x)) => &x.id,
        Some(R::ScreeningVisit(x)) => &x.id,
        Some(R::CareVisit(x)) => &x.id,
        Some(R::Inspection(x)) => &x.id,
    }
}

/// Sets the id of a wire record.
pub fn set_id(r: &mut pb::Record, id: &str) {
    use pb::record::Record as R;
    let id = id.to_string();
    match &mut r.record {
        None => {}
        Some(R::Compound(x)) => x.id = id,
        Some(R::Building(x)) => x.id = id,
        Some(R::ContractGroup(x)) => x.id = id,
        Some(R::Household(x)) => x.id = id,
        Some(R::Resident(x)) => x.id = id,
        Some(R::PartyMember(x)) => x.id = id,
        Some(R::Staff(x)) => x.id = id,
        Some(R::VolunteerTeam(x)) => x.id = id,
        Some(R::Volunteer(x)) => x.id = id,
        Some(R::Isolation(x)) => x.id = id,
        Some(R::CareRelationship(x)) => x.id = id,
        Some(R::Ticket(x)) => x.id = id,
        Some(R::Returnee(x)) => x.id = id,
        Some(R::Notice(x)) => x.id = id,
        Some(R::ScreeningVisit(x)) => x.id = id,
        Some(R::CareVisit(x)) => x.id = id,
        Some(R::Inspection(x)) => x.id = id,
    }
}

/// What a node is expected to store for `sent` under `id`: the id set, the
/// ID number in capitals and the person key derived from it (never taken
/// from the client).
pub fn as_stored(sent: &pb::Record, id: &str) -> pb::Record {
    let mut r = sent.clone();
    set_id(&mut r, id);
    if let Some(pb::record::Record::Resident(res)) = &mut r.record {
        res.id_number = res
            .id_number
            .as_ref()
            .map(|n| n.trim().to_ascii_uppercase());
        res.person_key = res.id_number.as_ref().map(|n| {
            gridsync_core::PersonKey::derive(&person_key_secret(), n)
                .as_str()
                .to_string()
        });
    }
    r
}

// ---- calls ----

/// Creates a record and returns it as stored; panics with the status if
/// refused.
pub async fn create(c: &mut OfficeClient<Channel>, r: pb::Record) -> pb::Record {
    let what = format!("create {} {:?}", kind_of(&r), id_of(&r));
    c.create_record(pb::CreateRecordRequest { record: Some(r) })
        .await
        .unwrap_or_else(|s| panic!("{what}: {:?} {}", s.code(), s.message()))
        .into_inner()
        .record
        .unwrap_or_else(|| panic!("{what}: the reply carries no record"))
}

/// Reads a record; `None` if NOT_FOUND, panics on any other error.
pub async fn get(c: &mut OfficeClient<Channel>, kind: &str, id: &str) -> Option<pb::Record> {
    match c
        .get_record(pb::GetRecordRequest {
            kind: kind.into(),
            id: id.into(),
        })
        .await
    {
        Ok(r) => Some(
            r.into_inner()
                .record
                .unwrap_or_else(|| panic!("get {kind} {id}: the reply carries no record")),
        ),
        Err(s) if s.code() == tonic::Code::NotFound => None,
        Err(s) => panic!("get {kind} {id}: {:?} {}", s.code(), s.message()),
    }
}

/// Every record of `kind` (of `day` for activity kinds; "" is today),
/// following `next_after_id` page by page.
pub async fn list_all(
    c: &mut OfficeClient<Channel>,
    kind: &str,
    day: &str,
    page: u32,
) -> Vec<pb::Record> {
    let mut out = Vec::new();
    let mut after = String::new();
    for _ in 0..100_000 {
        let reply = c
            .list_records(pb::ListRecordsRequest {
                kind: kind.into(),
                day: day.into(),
                limit: page,
                after_id: after.clone(),
            })
            .await
            .unwrap_or_else(|s| panic!("list {kind} {day}: {:?} {}", s.code(), s.message()))
            .into_inner();
        out.extend(reply.records);
        if reply.next_after_id.is_empty() {
            return out;
        }
        after = reply.next_after_id;
    }
    panic!("list {kind}: paging never ended");
}

/// What a node reports of its store: every loaded document's heads and the
/// record count of every kind. Equal before and after a refused request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoreState {
    pub heads: Vec<(String, Vec<String>)>,
    pub counts: Vec<(String, u64)>,
}

impl StoreState {
    /// This state with only the documents `other` has (to compare the
    /// documents that existed before a request, ignoring new ones).
    pub fn only_docs_of(mut self, other: &StoreState) -> StoreState {
        self.heads
            .retain(|(d, _)| other.heads.iter().any(|(o, _)| o == d));
        self
    }

    /// The ids of documents in this state that `other` lacks.
    pub fn docs_not_in(&self, other: &StoreState) -> Vec<String> {
        self.heads
            .iter()
            .filter(|(d, _)| !other.heads.iter().any(|(o, _)| o == d))
            .map(|(d, _)| d.clone())
            .collect()
    }

    pub fn heads_of(&self, doc_prefix: &str) -> Vec<(String, Vec<String>)> {
        self.heads
            .iter()
            .filter(|(d, _)| d.starts_with(doc_prefix))
            .cloned()
            .collect()
    }
}

pub async fn store_state(c: &mut OfficeClient<Channel>) -> StoreState {
    let s = c
        .get_status(pb::GetStatusRequest {})
        .await
        .unwrap_or_else(|s| panic!("GetStatus: {:?} {}", s.code(), s.message()))
        .into_inner();
    let mut heads: Vec<(String, Vec<String>)> = s
        .docs
        .into_iter()
        .map(|d| {
            let mut h = d.heads;
            h.sort();
            (d.doc_id, h)
        })
        .collect();
    heads.sort();
    let mut counts: Vec<(String, u64)> = s.counts.into_iter().map(|k| (k.kind, k.count)).collect();
    counts.sort();
    StoreState { heads, counts }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn id_numbers_have_their_check_character() {
        let n = id_number("11010519491231002");
        assert_eq!(n, "11010519491231002X");
        gridsync_core::validate::id_number("t", &n).expect("valid");
    }

    #[test]
    fn activity_instants_fall_on_today() {
        let ms = activity_instant_ms();
        assert!(ms <= now_ms());
        assert_eq!(day_of(ms), day_of(now_ms()));
    }
}
