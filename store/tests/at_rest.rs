//! The store at rest: encrypted with its key (no plaintext in the file or
//! its WAL), refused by name with the wrong key or none, re-encrypted under
//! a new key with everything kept, and its files private whatever the umask.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use gridsync_core::DocId;
use gridsync_core::sync::PersistedSync;
use gridsync_store::{
    Audit, DocWrite, Store, StoreError, StoreKey, SyncWrite, backup, private, reencrypt,
};

/// A phone number as a resident record would carry it.
const MARKER: &[u8] = b"resident-phone-13800138000";

fn doc(i: u32) -> DocId {
    format!("registry/c{i:02}").parse().unwrap()
}

/// Writes `n` documents whose bytes carry [`MARKER`], with sync states and
/// audit rows, and checkpoints.
fn write(store: &mut Store, n: u32) {
    for i in 0..n {
        let mut bytes = MARKER.to_vec();
        bytes.extend_from_slice(&i.to_le_bytes());
        store
            .commit(
                &[DocWrite {
                    id: doc(i),
                    bytes,
                    heads: Vec::new(),
                }],
                &[SyncWrite {
                    peer: "coordinator",
                    id: doc(i),
                    state: PersistedSync {
                        state: vec![i as u8; 8],
                        last_sync_ms: Some(i as i64),
                    },
                }],
                Some(&Audit {
                    at_ms: i as i64,
                    actor: "test",
                    action: "write",
                }),
            )
            .unwrap();
    }
}

/// One document's chunks and its sync state's bytes.
type Held = (Vec<Vec<u8>>, Option<Vec<u8>>);

/// What a store holds, comparable.
fn contents(store: &Store, n: u32) -> Vec<Held> {
    (0..n)
        .map(|i| {
            let d = store.load_doc(&doc(i)).unwrap().expect("stored");
            let s = store.sync_state("coordinator", &doc(i)).unwrap();
            (d.chunks, s.map(|s| s.state))
        })
        .collect()
}

fn files(path: &Path) -> Vec<PathBuf> {
    ["", "-wal", "-shm", ".lock"]
        .iter()
        .map(|s| {
            let mut p = path.as_os_str().to_owned();
            p.push(s);
            PathBuf::from(p)
        })
        .collect()
}

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p)
        .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
        .permissions()
        .mode()
        & 0o777
}

fn holds_marker(path: &Path) -> bool {
    files(path)[..2].iter().any(|f| {
        std::fs::read(f)
            .unwrap_or_default()
            .windows(MARKER.len())
            .any(|w| w == MARKER)
    })
}

/// The umask of this process, as the kernel reports it.
fn umask() -> String {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("Umask:").map(|u| u.trim().to_string()))
        .unwrap_or_else(|| "unknown".into())
}

#[test]
fn an_encrypted_store_holds_no_plaintext_and_a_plaintext_one_does() {
    let tmp = tempfile::tempdir().unwrap();
    let key = StoreKey::generate().unwrap();
    let enc = tmp.path().join("enc.sqlite3");
    let plain = tmp.path().join("plain.sqlite3");
    let mut e = Store::open(&enc, Some(&key)).unwrap();
    let mut p = Store::open(&plain, None).unwrap();
    write(&mut e, 20);
    write(&mut p, 20);
    // Before the checkpoint the rows sit in the WAL; after it, in the file.
    assert!(
        !holds_marker(&enc),
        "the encrypted store's WAL holds plaintext"
    );
    assert!(holds_marker(&plain), "the check cannot see plaintext");
    e.checkpoint().unwrap();
    p.checkpoint().unwrap();
    assert!(!holds_marker(&enc), "the encrypted store holds plaintext");
    assert!(holds_marker(&plain));
    let head = std::fs::read(&enc).unwrap();
    assert!(
        !head.starts_with(b"SQLite format 3"),
        "the header is in clear"
    );
}

#[test]
fn the_wrong_key_or_none_is_refused_by_name_and_changes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let key = StoreKey::generate().unwrap();
    let other = StoreKey::generate().unwrap();
    let path = tmp.path().join("gridsync-node.sqlite3");
    {
        let mut s = Store::open(&path, Some(&key)).unwrap();
        write(&mut s, 3);
        s.checkpoint().unwrap();
    }
    let before = std::fs::read(&path).unwrap();
    let name = path.display().to_string();
    match Store::open(&path, Some(&other)) {
        Err(e @ StoreError::WrongKey { .. }) => {
            let m = e.to_string();
            assert!(
                m.contains(&name) && m.contains("the store key does not open it"),
                "{m}"
            );
        }
        Err(e) => panic!("expected WrongKey, got {e}"),
        Ok(_) => panic!("the wrong key opened the store"),
    }
    match Store::open(&path, None) {
        Err(e @ StoreError::NeedsKey { .. }) => {
            let m = e.to_string();
            assert!(m.contains(&name) && m.contains("without a key"), "{m}");
        }
        Err(e) => panic!("expected NeedsKey, got {e}"),
        Ok(_) => panic!("an encrypted store opened without its key"),
    }
    assert_eq!(
        std::fs::read(&path).unwrap(),
        before,
        "a refused open changed the file"
    );
    let s = Store::open(&path, Some(&key)).unwrap();
    assert_eq!(contents(&s, 3).len(), 3);
    drop(s);

    // A plaintext store opened with a key is refused the same way.
    let plain = tmp.path().join("plain.sqlite3");
    write(&mut Store::open(&plain, None).unwrap(), 1);
    let e = Store::open(&plain, Some(&key)).err().expect("refused");
    assert!(matches!(e, StoreError::WrongKey { .. }), "{e}");
    assert!(e.to_string().contains("plain.sqlite3"), "{e}");
}

#[test]
fn rotation_keeps_everything_and_the_old_key_is_refused_by_name() {
    let tmp = tempfile::tempdir().unwrap();
    let old = StoreKey::generate().unwrap();
    let new = StoreKey::generate().unwrap();
    let path = tmp.path().join("gridsync-coordinator.sqlite3");
    let before = {
        let mut s = Store::open(&path, Some(&old)).unwrap();
        write(&mut s, 30);
        // Left in the WAL on purpose: rotation must checkpoint it.
        (contents(&s, 30), s.audit_count().unwrap())
    };
    // A copy left by an interrupted rotation is not the store.
    std::fs::write(
        tmp.path().join("gridsync-coordinator.sqlite3.rekey"),
        b"junk",
    )
    .unwrap();
    {
        let _open = Store::open(&path, Some(&old)).unwrap();
        let e = reencrypt(&path, Some(&old), &new).unwrap_err();
        assert!(matches!(e, StoreError::InUse { .. }), "{e}");
    }
    let e = reencrypt(&path, Some(&new), &old).unwrap_err();
    assert!(matches!(e, StoreError::WrongKey { .. }), "{e}");
    let e = reencrypt(&path, Some(&old), &old).unwrap_err();
    assert!(matches!(e, StoreError::SameKey { .. }), "{e}");

    let done = reencrypt(&path, Some(&old), &new).unwrap();
    assert_eq!(done.schema_version, gridsync_store::STORE_VERSION);
    assert!(
        done.rows.contains(&("doc_chunks".to_string(), 30)),
        "{done:?}"
    );
    assert!(
        !tmp.path()
            .join("gridsync-coordinator.sqlite3.rekey")
            .exists()
    );

    let e = Store::open(&path, Some(&old))
        .err()
        .expect("the old key is refused");
    assert!(matches!(e, StoreError::WrongKey { .. }), "{e}");
    assert!(e.to_string().contains(&path.display().to_string()), "{e}");
    let mut s = Store::open(&path, Some(&new)).unwrap();
    assert_eq!((contents(&s, 30), s.audit_count().unwrap()), before);
    assert_eq!(s.schema_version().unwrap(), gridsync_store::STORE_VERSION);
    // And it takes writes under the new key.
    write(&mut s, 31);
    assert_eq!(s.audit_count().unwrap(), before.1 + 31);
    drop(s);
    assert!(!holds_marker(&path));
}

#[test]
fn a_backup_of_a_running_store_is_encrypted_with_its_key_and_holds_everything() {
    let tmp = tempfile::tempdir().unwrap();
    let key = StoreKey::generate().unwrap();
    let path = tmp.path().join("gridsync-node.sqlite3");
    let out = tmp.path().join("backup.sqlite3");
    let mut s = Store::open(&path, Some(&key)).unwrap();
    write(&mut s, 12);
    // The service keeps running (its lock held, the rows in its WAL).
    let done = backup(&path, &key, &out).unwrap();
    assert!(done.rows.contains(&("audit".to_string(), 12)), "{done:?}");
    assert_eq!(mode(&out), 0o600);
    assert!(!holds_marker(&out), "the backup holds plaintext");
    let e = backup(&path, &key, &out).unwrap_err().to_string();
    assert!(e.contains("backup.sqlite3"), "{e}");
    let e = backup(
        &path,
        &StoreKey::generate().unwrap(),
        &tmp.path().join("b2"),
    )
    .unwrap_err();
    assert!(matches!(e, StoreError::WrongKey { .. }), "{e}");
    assert!(!tmp.path().join("b2").exists());
    let before = contents(&s, 12);
    drop(s);
    let e = Store::open(&out, None)
        .err()
        .expect("a backup needs the key");
    assert!(matches!(e, StoreError::NeedsKey { .. }), "{e}");
    let restored = Store::open(&out, Some(&key)).unwrap();
    assert_eq!(contents(&restored, 12), before);
    assert_eq!(
        restored.schema_version().unwrap(),
        gridsync_store::STORE_VERSION
    );
}

#[test]
fn a_plaintext_store_is_encrypted_with_everything_kept() {
    let tmp = tempfile::tempdir().unwrap();
    let key = StoreKey::generate().unwrap();
    let path = tmp.path().join("gridsync-node.sqlite3");
    let before = {
        let mut s = Store::open(&path, None).unwrap();
        write(&mut s, 10);
        s.checkpoint().unwrap();
        contents(&s, 10)
    };
    assert!(holds_marker(&path));
    // Encrypting an encrypted store asks for its key.
    let enc = tmp.path().join("other.sqlite3");
    drop(Store::open(&enc, Some(&key)).unwrap());
    let e = reencrypt(&enc, None, &key).unwrap_err();
    assert!(matches!(e, StoreError::NeedsKey { .. }), "{e}");
    let e = reencrypt(&tmp.path().join("none.sqlite3"), None, &key).unwrap_err();
    assert!(matches!(e, StoreError::Missing { .. }), "{e}");

    reencrypt(&path, None, &key).unwrap();
    assert!(!holds_marker(&path), "plaintext left after encrypting");
    assert!(matches!(
        Store::open(&path, None),
        Err(StoreError::NeedsKey { .. })
    ));
    let s = Store::open(&path, Some(&key)).unwrap();
    assert_eq!(contents(&s, 10), before);
    assert_eq!(mode(&path), 0o600);
}

#[test]
fn store_files_are_private_and_loose_ones_are_tightened_on_open() {
    eprintln!("umask of this test process: {}", umask());
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    assert!(!private::create_dir(&dir).unwrap());
    let path = dir.join("gridsync-node.sqlite3");
    let key = StoreKey::generate().unwrap();
    {
        let mut s = Store::open(&path, Some(&key)).unwrap();
        write(&mut s, 2);
        for f in files(&path) {
            assert_eq!(mode(&f), 0o600, "{}", f.display());
        }
        assert_eq!(mode(&dir), 0o700);
        // As an older build left them.
        for f in files(&path) {
            std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o644)).unwrap();
        }
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    assert!(
        private::create_dir(&dir).unwrap(),
        "the folder was tightened"
    );
    let s = Store::open(&path, Some(&key)).unwrap();
    for f in files(&path) {
        assert_eq!(mode(&f), 0o600, "{}", f.display());
    }
    assert_eq!(mode(&dir), 0o700);
    assert_eq!(contents(&s, 2).len(), 2);
}
