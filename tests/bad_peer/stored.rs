//! What a bad peer left behind before the budgets: an op bomb (a change
//! claiming 33.6 million list inserts in 158 bytes,
//! `gridsync_testkit::hostile::op_bomb`) stored in a real node store, as the
//! coordinator stored the 2.1M and 8.4M ones it applied. Loading it is
//! refused by name without the memory it claims; `gridctl store check`
//! (the real binary) reports it and exits 1; `gridctl store repair` moves it
//! into quarantine — a dry run changes nothing — after which the document
//! loads with the rest of its data and the check is clean. The same for a
//! snapshot over budget, which takes its whole document into quarantine.

use gridsync_core::sync::wire::{RawChunk, Reader, chunk_hash};
use gridsync_core::*;
use gridsync_node::office::{Office, OfficeConfig};
use gridsync_store::{DocWrite, Store, StoreError, StoredHeads};
use gridsync_svc::ApiError;
use gridsync_testkit::hostile;

const NOW: i64 = 1_796_000_000_000;
const BOMB_OPS: u64 = 33_554_432;
/// How far the peak resident set may grow while a bomb is refused, MiB
/// (loaded, this one asks Automerge for about 12 GB).
const MEMORY_BOUND_MIB: f64 = 32.0;

fn cfg(dir: &std::path::Path) -> OfficeConfig {
    OfficeConfig {
        community: CommunityId::parse("c01").unwrap(),
        community_name: "c01".into(),
        community_kind: CommunityKind::Community,
        db_path: dir.join("gridsync-node.sqlite3"),
        tz: chrono_tz::Asia::Shanghai,
        secret: Some(PersonKeySecret::new(vec![3u8; 32]).unwrap()),
        compact_after_chunks: 1_000,
        store_key: Some(gridsync_testkit::store_key()),
    }
}

fn registry() -> DocId {
    "registry/c01".parse().unwrap()
}

/// The compounds' names, as the office lists them.
fn compounds(o: &mut Office) -> Vec<String> {
    let mut names: Vec<String> = o
        .list(Kind::Compound, o.today(NOW), "", usize::MAX, NOW)
        .unwrap()
        .into_iter()
        .map(|r| match r {
            Record::Compound(c) => c.name,
            other => panic!("not a compound: {other:?}"),
        })
        .collect();
    names.sort();
    names
}

/// A node store with five compounds; returns the compounds and every
/// document's heads.
fn node_store(dir: &std::path::Path) -> (Vec<String>, Vec<StoredHeads>) {
    let mut o = Office::open(cfg(dir), NOW).unwrap();
    for i in 0..5 {
        o.create(
            Record::Compound(Compound {
                id: String::new(),
                name: format!("院{i}"),
                address: None,
            }),
            NOW + i,
        )
        .unwrap();
    }
    (compounds(&mut o), o.store().doc_heads().unwrap())
}

fn bomb_hash(bomb: &[u8]) -> automerge::ChangeHash {
    let mut r = Reader::new(bomb);
    let chunk = RawChunk::read(&mut r).unwrap();
    automerge::ChangeHash(chunk_hash(1, chunk.data))
}

fn peak_mib() -> f64 {
    gridsync_svc::process::memory(None)
        .map(|m| m.peak_mib())
        .unwrap_or(0.0)
}

/// The test kit's store key in a file, for gridctl's `--key-file`.
fn key_file() -> &'static std::path::Path {
    static DIR: std::sync::OnceLock<tempfile::TempDir> = std::sync::OnceLock::new();
    let dir = DIR.get_or_init(|| tempfile::tempdir().expect("a folder for the key file"));
    static FILE: std::sync::OnceLock<std::path::PathBuf> = std::sync::OnceLock::new();
    FILE.get_or_init(|| gridsync_testkit::store_key_file(dir.path()))
}

/// Runs the built gridctl (a `store` command given the store's key file);
/// its exit code, stdout and stderr.
fn gridctl(args: &[&str]) -> (i32, String, String) {
    let mut cmd = std::process::Command::new(gridsync_testkit::node::gridctl_binary());
    cmd.args(args);
    if args.contains(&"store") {
        cmd.arg("--key-file").arg(key_file());
    }
    let out = cmd.output().expect("gridctl runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Every document's heads, every document's stored pieces, the
/// quarantine's size.
type Everything = (Vec<StoredHeads>, Vec<Option<Vec<Vec<u8>>>>, usize);

/// Everything a dry run must leave as it was.
fn everything(path: &std::path::Path) -> Everything {
    let store = Store::open(path, Some(&gridsync_testkit::store_key())).unwrap();
    let heads = store.doc_heads().unwrap();
    let docs = heads
        .iter()
        .map(|(id, _)| {
            store.load_doc(id).unwrap().map(|d| {
                d.snapshot
                    .into_iter()
                    .chain(d.chunks)
                    .collect::<Vec<Vec<u8>>>()
            })
        })
        .collect();
    (heads, docs, store.quarantined().unwrap().len())
}

/// The refusal of a document over budget, checked: named, with the limit,
/// telling the operator what to run, FAILED_PRECONDITION at the API.
fn assert_refused(e: StoreError, words: &[&str]) {
    let msg = e.to_string();
    eprintln!("refused: {msg}");
    let StoreError::OverBudget { doc, .. } = &e else {
        panic!("expected OverBudget, got {msg}")
    };
    assert_eq!(doc, &registry());
    for w in ["registry/c01", "was not loaded", "gridctl store check --db"]
        .iter()
        .chain(words)
    {
        assert!(msg.contains(w), "{w:?} not in {msg}");
    }
    let status = tonic::Status::from(ApiError::from(e));
    assert_eq!(status.code(), tonic::Code::FailedPrecondition, "{status:?}");
}

#[test]
fn a_stored_op_bomb_is_refused_by_name_reported_and_quarantined() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("gridsync-node.sqlite3");
    let db = path.to_str().unwrap();
    let (names, heads_before) = node_store(dir.path());
    let bomb = hostile::op_bomb(BOMB_OPS);
    assert!(bomb.len() < 200, "{} bytes", bomb.len());
    {
        // Stored as the coordinator stored the bombs it applied: the
        // change's bytes as one chunk, its hash among the heads.
        let mut store = Store::open(&path, Some(&gridsync_testkit::store_key())).unwrap();
        let (_, Some(mut heads)) = store
            .doc_heads()
            .unwrap()
            .into_iter()
            .find(|(id, _)| id == &registry())
            .unwrap()
        else {
            panic!("the registry's heads are stored")
        };
        heads.push(bomb_hash(&bomb));
        store
            .commit(
                &[DocWrite {
                    id: registry(),
                    bytes: bomb.clone(),
                    heads,
                }],
                &[],
                None,
            )
            .unwrap();
    }

    // Loading it is refused by name, at the store and at the node's start,
    // without the memory it claims.
    let peak = peak_mib();
    let e = Store::open(&path, Some(&gridsync_testkit::store_key()))
        .unwrap()
        .read_doc(&registry())
        .err();
    assert_refused(
        e.expect("the bomb is refused"),
        &["over the limit of 4000000 (max_doc_ops)"],
    );
    let e = Office::open(cfg(dir.path()), NOW)
        .err()
        .expect("the node refuses to start");
    let msg = e.to_string();
    assert!(
        msg.contains("registry/c01") && msg.contains("gridctl store check"),
        "{msg}"
    );
    let grown = peak_mib() - peak;
    eprintln!("peak resident set grew by {grown:.1} MiB while the bomb was refused");
    assert!(grown < MEMORY_BOUND_MIB, "grew by {grown:.1} MiB");

    // The check names it and exits 1, in text and in JSON.
    let (code, out, err) = gridctl(&["store", "check", "--db", db]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        out.contains("registry/c01") && out.contains("OVER"),
        "{out}"
    );
    assert!(
        out.contains(&format!(
            "{BOMB_OPS} operations, over the limit of 4000000 (max_doc_ops)"
        )),
        "{out}"
    );
    assert!(out.contains("1 over budget"), "{out}");
    let (code, out, _) = gridctl(&["--json", "store", "check", "--db", db]);
    assert_eq!(code, 1);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["over"], 1, "{v}");
    let docs = v["documents"].as_array().unwrap();
    let reg = docs.iter().find(|d| d["doc"] == "registry/c01").unwrap();
    assert!(reg["over"].is_string(), "{reg}");
    let piece = reg["pieces"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["ops"] == BOMB_OPS)
        .unwrap_or_else(|| panic!("no piece of {BOMB_OPS} operations: {reg}"));
    assert_eq!(piece["bytes"], bomb.len());
    assert!(
        docs.iter()
            .filter(|d| d["doc"] != "registry/c01")
            .all(|d| d["over"].is_null())
    );

    // While the service holds the store, check and repair say so.
    {
        let _running = Store::open(&path, Some(&gridsync_testkit::store_key())).unwrap();
        for cmd in ["check", "repair"] {
            let (code, out, err) = gridctl(&["store", cmd, "--db", db]);
            assert_eq!(code, 2, "{out}{err}");
            assert!(err.contains("in use by another process"), "{err}");
        }
    }

    // A dry run says what it would move and changes nothing.
    let before = everything(&path);
    let (code, out, err) = gridctl(&["store", "repair", "--db", db, "--dry-run"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("registry/c01: would move chunk"), "{out}");
    assert!(out.contains("dry run: nothing changed"), "{out}");
    assert_eq!(everything(&path), before, "a dry run changed the store");

    // The repair moves the bomb into quarantine and records the heads of
    // what remains: the registry's heads before the bomb.
    let (code, out, err) = gridctl(&["store", "repair", "--db", db]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("registry/c01: moved chunk"), "{out}");
    assert!(out.contains("repair its store the same way"), "{out}");
    {
        let store = Store::open(&path, Some(&gridsync_testkit::store_key())).unwrap();
        let q = store.quarantined().unwrap();
        assert_eq!(q.len(), 1, "{q:?}");
        assert_eq!(q[0].doc, "registry/c01");
        assert_eq!(q[0].bytes, bomb, "the bomb is kept as it was");
        assert!(q[0].reason.contains("max_doc_ops"), "{}", q[0].reason);
        assert_eq!(store.doc_heads().unwrap(), heads_before);
        assert!(store.read_doc(&registry()).unwrap().is_some());
    }
    let mut o = Office::open(cfg(dir.path()), NOW).expect("the node starts again");
    assert_eq!(
        compounds(&mut o),
        names,
        "the rest of the registry is intact"
    );
    drop(o);
    let (code, out, err) = gridctl(&["store", "check", "--db", db]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains(" 0 over budget"), "{out}");
    assert!(out.contains("pieces in quarantine: 1"), "{out}");
}

#[test]
fn a_snapshot_over_budget_takes_its_document_into_quarantine() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("gridsync-node.sqlite3");
    let db = path.to_str().unwrap();
    let (_, heads_before) = node_store(dir.path());
    let bomb = hostile::op_bomb(BOMB_OPS);
    {
        // A snapshot is a saved document and the changes it could not
        // apply: the registry saved, the bomb after it.
        let mut store = Store::open(&path, Some(&gridsync_testkit::store_key())).unwrap();
        let mut snapshot = store.read_doc(&registry()).unwrap().unwrap().save();
        snapshot.extend_from_slice(&bomb);
        store.compact(&registry(), &snapshot, NOW).unwrap();
        let e = store.read_doc(&registry()).expect_err("refused");
        assert_refused(e, &["(at its snapshot)"]);
    }
    let (code, out, _) = gridctl(&["store", "check", "--db", db]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("snapshot ("), "{out}");

    let (code, out, err) = gridctl(&["store", "repair", "--db", db]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("registry/c01: moved snapshot"), "{out}");
    assert!(out.contains("the whole document went"), "{out}");
    {
        let store = Store::open(&path, Some(&gridsync_testkit::store_key())).unwrap();
        assert!(store.read_doc(&registry()).unwrap().is_none());
        let q = store.quarantined().unwrap();
        assert_eq!(q.len(), 1, "{q:?}");
        assert_eq!(q[0].piece, "snapshot");
        assert!(q[0].bytes.ends_with(&bomb));
        // Every other document as it was.
        let others: Vec<StoredHeads> = heads_before
            .into_iter()
            .filter(|(id, _)| id != &registry())
            .collect();
        assert_eq!(store.doc_heads().unwrap(), others);
    }
    let (code, out, _) = gridctl(&["store", "check", "--db", db]);
    assert_eq!(code, 0, "{out}");
    // The node starts with its registry's genesis; its coordinator holds
    // the rest and sends it back.
    assert!(Office::open(cfg(dir.path()), NOW).is_ok());
}

#[test]
fn a_store_that_is_not_there_is_named_and_not_created() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("typo.sqlite3");
    let (code, _, err) = gridctl(&["store", "check", "--db", path.to_str().unwrap()]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("typo.sqlite3") && err.contains("no such file"),
        "{err}"
    );
    assert!(!path.exists());
}
