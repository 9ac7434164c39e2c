//! # gridsync-testkit
//!
//! What gridsync's tests, benchmarks and demo share; never part of the
//! product (`publish = false`; no product crate depends on it). Nothing
//! here is a mock: every helper runs the real services, real gRPC, real
//! SQLite stores in temporary folders, or the built binaries.
//!
//! - [`node`]: [`InProcessNode`] (a node in this process over real gRPC on
//!   `127.0.0.1:0`), [`NodeProcess`] (the built `gridsync-node`, killable
//!   with SIGKILL), and the paths of the built binaries.
//! - [`street`]: a street in this process: a test CA ([`street::Pki`]), a
//!   coordinator and nodes with real stores over mutual TLS.
//! - [`records`]: records as tests write them; [`calls`]: office API calls
//!   that panic with the status when refused, and the store's state.
//! - [`proxy`]: a loopback TCP fault proxy (cut, blackhole, one-way,
//!   delay, reset, heal) for the demo and the kill tests.
//! - [`demo_street`]: the deterministic demo street (seven communities, a
//!   month of work) written straight into node and coordinator stores;
//!   [`demo_roster`]: a demo community as a CSV roster.
//! - [`hostile`]: hostile peers' messages made by hand (op and inflate bombs,
//!   floods, corrupt changes); [`attack`]: sending them as a separate client
//!   would (a raw sync session held open, idle TLS connections).
//! - [`fuzzing`] (feature `fuzzing`): the cargo-fuzz targets' harnesses
//!   and seeds, shared with the corpus replay test (`tests/fuzz_corpus`).
//! - [`sim`] (feature `sim`): the partition suite's deterministic
//!   simulation of a whole street in turmoil.
//! - [`process`]: child processes stopped with SIGTERM when dropped, and
//!   sibling binaries.
//!
//! The `gridsync-demo` binary (`src/bin/demo`) runs the demo street.
//!
//! ## The binaries must be built first
//!
//! The process tests run the executables of the same target profile as the
//! test binary; cargo does not build another package's binaries for a test.
//! The README's test command does it:
//!
//! ```text
//! scripts/deps.sh && cargo build --workspace --bins && cargo nextest run --workspace
//! ```
//!
//! `GRIDSYNC_NODE_BIN`, `GRIDSYNC_COORDINATOR_BIN` and `GRIDCTL_BIN` point
//! the tests at other executables.

pub mod attack;
pub mod calls;
pub mod demo_roster;
pub mod demo_street;
#[cfg(feature = "fuzzing")]
pub mod fuzzing;
pub mod hostile;
pub mod node;
pub mod process;
pub mod proxy;
pub mod records;
#[cfg(feature = "sim")]
pub mod sim;
pub mod street;

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

use gridsync_core::PersonKeySecret;
use gridsync_store::StoreKey;

pub use calls::{StoreState, create, get, list_all, store_state};
pub use node::{
    InProcessNode, NodeProcess, connect, coordinator_binary, demo_binary, gridctl_binary,
    node_binary,
};
pub use records::*;

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

/// The store key of this test process: random, made once, so that every
/// test runs on encrypted stores (as production does) and none leans on a
/// fixed key.
pub fn store_key() -> StoreKey {
    static KEY: OnceLock<StoreKey> = OnceLock::new();
    KEY.get_or_init(|| StoreKey::generate().expect("the system's random source"))
        .clone()
}

/// The key file beside a store, as the test processes are given it.
pub const STORE_KEY_FILE: &str = "store.key";

/// Writes [`store_key`] to `dir/store.key` (mode 0600) unless it is there
/// already, and returns its path; `dir` is created if missing.
pub fn store_key_file(dir: &Path) -> PathBuf {
    let path = dir.join(STORE_KEY_FILE);
    if !path.exists() {
        gridsync_store::private::create_dir(dir)
            .unwrap_or_else(|e| panic!("cannot create {}: {e}", dir.display()));
        store_key()
            .write_new_file(&path)
            .unwrap_or_else(|e| panic!("{e}"));
    }
    let written = StoreKey::read_file(&path).unwrap_or_else(|e| panic!("{e}"));
    assert!(
        written == store_key(),
        "{} holds another process's store key",
        path.display()
    );
    path
}

/// The wall clock, Unix ms: what tests stamp their records with (the
/// services under test read the same clock through `gridsync_svc::Clock`).
pub fn now_ms() -> i64 {
    gridsync_svc::Clock::system().now_ms()
}
