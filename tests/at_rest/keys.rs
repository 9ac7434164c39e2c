//! The store key with the real binaries: required, refused by name when
//! wrong, taken from a systemd credential, rotated with `gridctl store
//! rekey` (refused while the node runs) with every record kept, and a
//! plaintext store encrypted with `gridctl store encrypt`.

use gridsync_testkit::node_binary;

use super::*;

struct Node {
    root: PathBuf,
    data: PathBuf,
    addr_file: PathBuf,
}

impl Node {
    fn new(root: &Path) -> Node {
        Node {
            root: root.to_path_buf(),
            data: root.join("data"),
            addr_file: root.join("node.addr"),
        }
    }

    fn db(&self) -> PathBuf {
        self.data.join("gridsync-node.sqlite3")
    }

    /// Starts the node with `extra` settings (and `envs`).
    fn start(&self, extra: &[&str], envs: &[(&str, &Path)]) -> Result<Service, String> {
        let mut args: Vec<String> = [
            "--community-id",
            "c01",
            "--listen",
            "127.0.0.1:0",
            "--data-dir",
            &s(&self.data),
            "--addr-file",
            &s(&self.addr_file),
        ]
        .map(String::from)
        .to_vec();
        args.extend(extra.iter().map(|a| a.to_string()));
        Service::start(
            &node_binary(),
            &args,
            envs,
            &self.addr_file,
            self.root.join("node.log"),
        )
    }

    fn key(&self, name: &str) -> String {
        s(&self.root.join(name))
    }

    fn compounds(&self, node: &Service) -> String {
        ok(gridctl(
            &self.root,
            &["--node", &node.addr, "list", "compound"],
        ))
    }

    fn create(&self, node: &Service, name: &str) {
        let json = format!(r#"{{"name":"{name}","address":null}}"#);
        ok(gridctl(
            &self.root,
            &["--node", &node.addr, "create", "compound", &json],
        ));
    }
}

fn refused(r: Result<Service, String>) -> String {
    match r {
        Ok(s) => panic!("the node started: {}", s.log()),
        Err(e) => e,
    }
}

#[test]
fn a_wrong_key_is_refused_by_name_and_a_rotation_keeps_every_record() {
    let tmp = tempfile::tempdir().unwrap();
    let n = Node::new(tmp.path());
    for k in ["old.key", "new.key"] {
        ok(gridctl(&n.root, &["store", "keygen", "--out", k]));
    }
    let (old, new) = (n.key("old.key"), n.key("new.key"));
    let db = s(&n.db());

    let mut node = n.start(&["--store-key-file", &old], &[]).unwrap();
    n.create(&node, "一号院");
    n.create(&node, "二号院");
    // Rotation refuses while the node holds the store.
    let busy = gridctl(
        &n.root,
        &[
            "store",
            "rekey",
            "--db",
            &db,
            "--key-file",
            &old,
            "--new-key-file",
            &new,
        ],
    );
    assert!(!busy.status.success());
    let why = String::from_utf8_lossy(&busy.stderr);
    assert!(
        why.contains("in use by another process") && why.contains(".lock"),
        "{why}"
    );
    // A backup beside the running node, under the old key.
    let backup = s(&n.root.join("backup.sqlite3"));
    ok(gridctl(
        &n.root,
        &[
            "store",
            "backup",
            "--db",
            &db,
            "--key-file",
            &old,
            "--out",
            &backup,
        ],
    ));
    node.stop();

    let e = refused(n.start(&["--store-key-file", &new], &[]));
    assert!(
        e.contains(&format!("store {db}: the store key does not open it")),
        "{e}"
    );
    let e = refused(n.start(&[], &[]));
    assert!(
        e.contains("no store key") && e.contains("exit status: 2"),
        "{e}"
    );
    let short = n.root.join("short.key");
    std::fs::write(&short, "abcd\n").unwrap();
    let e = refused(n.start(&["--store-key-file", &s(&short)], &[]));
    assert!(e.contains("short.key") && e.contains("4 hex digits"), "{e}");
    assert!(!e.contains("abcd"), "the key file's text is shown: {e}");

    let said = ok(gridctl(
        &n.root,
        &[
            "store",
            "rekey",
            "--db",
            &db,
            "--key-file",
            &old,
            "--new-key-file",
            &new,
        ],
    ));
    assert!(said.contains("re-encrypted store"), "{said}");
    let e = refused(n.start(&["--store-key-file", &old], &[]));
    assert!(
        e.contains("the store key does not open it") && e.contains(&db),
        "{e}"
    );

    // The new key as systemd hands it over: a credential, no setting.
    let creds = n.root.join("credentials");
    std::fs::create_dir(&creds).unwrap();
    std::fs::copy(&new, creds.join("gridsync-store-key")).unwrap();
    let node = n.start(&[], &[("CREDENTIALS_DIRECTORY", &creds)]).unwrap();
    let list = n.compounds(&node);
    assert!(list.contains("一号院") && list.contains("二号院"), "{list}");
    n.create(&node, "三号院");
    drop(node);

    // The backup still opens with the key it was made with, not the new one.
    let bak = Node {
        data: n.root.join("restored"),
        ..Node::new(&n.root)
    };
    std::fs::create_dir(&bak.data).unwrap();
    std::fs::copy(&backup, bak.db()).unwrap();
    let e = refused(bak.start(&["--store-key-file", &new], &[]));
    assert!(e.contains("does not open it"), "{e}");
    let node = bak.start(&["--store-key-file", &old], &[]).unwrap();
    let list = bak.compounds(&node);
    assert!(
        list.contains("二号院") && !list.contains("三号院"),
        "{list}"
    );
}

#[test]
fn a_plaintext_store_runs_only_when_asked_and_is_encrypted_by_gridctl() {
    let tmp = tempfile::tempdir().unwrap();
    let n = Node::new(tmp.path());
    let node = n.start(&["--insecure-plaintext-store"], &[]).unwrap();
    assert!(node.log().contains("INSECURE"), "{}", node.log());
    n.create(&node, "一号院");
    drop(node);
    ok(gridctl(&n.root, &["store", "keygen", "--out", "k"]));
    let k = n.key("k");
    // A key for a store that is not encrypted is refused by name.
    let e = refused(n.start(&["--store-key-file", &k], &[]));
    assert!(
        e.contains("does not open it") && e.contains(&s(&n.db())),
        "{e}"
    );
    ok(gridctl(
        &n.root,
        &[
            "store",
            "encrypt",
            "--db",
            &s(&n.db()),
            "--new-key-file",
            &k,
        ],
    ));
    let e = refused(n.start(&["--insecure-plaintext-store"], &[]));
    assert!(e.contains("cannot be read without a key"), "{e}");
    let node = n.start(&["--store-key-file", &k], &[]).unwrap();
    assert!(n.compounds(&node).contains("一号院"));
    assert!(!node.log().contains("INSECURE"), "{}", node.log());
}
