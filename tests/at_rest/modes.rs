//! Files 0600 and folders 0700 whatever the umask (the services run under
//! umask 000 here, which would leave 0666/0777 to anything not set
//! explicitly), and looser ones tightened at the next start.

use gridsync_testkit::{coordinator_binary, node_binary};

use super::*;

/// The store's files that exist while its service runs.
fn store_files(db: &Path) -> Vec<PathBuf> {
    ["", "-wal", "-shm", ".lock"]
        .iter()
        .map(|x| with_suffix(db, x))
        .collect()
}

fn assert_private(db: &Path, dirs: &[PathBuf]) {
    for f in store_files(db) {
        assert_eq!(mode(&f), 0o600, "{}", f.display());
    }
    for d in dirs {
        assert_eq!(mode(d), 0o700, "{}", d.display());
    }
}

#[test]
fn a_node_keeps_its_store_private_under_umask_000_and_tightens_a_loose_one() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    ok(gridctl(
        root,
        &["store", "keygen", "--out", "keys/node-store.key"],
    ));
    assert_eq!(mode(&root.join("keys/node-store.key")), 0o600);
    assert_eq!(mode(&root.join("keys")), 0o700);
    // Two levels the node makes itself.
    let data = root.join("var/gridsync-node");
    let db = data.join("gridsync-node.sqlite3");
    let addr = root.join("node.addr");
    let args: Vec<String> = [
        "--community-id",
        "c01",
        "--listen",
        "127.0.0.1:0",
        "--data-dir",
        &s(&data),
        "--addr-file",
        &s(&addr),
        "--store-key-file",
        &s(&root.join("keys/node-store.key")),
    ]
    .map(String::from)
    .to_vec();
    let start = || {
        Service::start(&node_binary(), &args, &[], &addr, root.join("node.log"))
            .unwrap_or_else(|e| panic!("the node did not start: {e}"))
    };
    let mut node = start();
    ok(gridctl(
        root,
        &[
            "--node",
            &node.addr,
            "create",
            "compound",
            r#"{"name":"一号院","address":null}"#,
        ],
    ));
    assert_private(&db, &[data.clone(), root.join("var")]);
    node.stop();

    // As an older build (or a umask 022 copy) left them.
    set_mode(&data, 0o755);
    for f in store_files(&db) {
        if f.exists() {
            set_mode(&f, 0o644);
        }
    }
    let node = start();
    assert_private(&db, std::slice::from_ref(&data));
    let log = node.log();
    assert!(
        log.contains("data_dir was open to other users") && log.contains("tightened to mode 0600"),
        "{log}"
    );
    let list = ok(gridctl(root, &["--node", &node.addr, "list", "compound"]));
    assert!(list.contains("一号院"), "{list}");
}

#[test]
fn a_coordinator_keeps_its_store_and_rollup_records_private_under_umask_000() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    ok(gridctl(
        root,
        &["store", "keygen", "--out", "coordinator-store.key"],
    ));
    let token = "operator-token-for-the-at-rest-test";
    std::fs::write(
        root.join("tokens.toml"),
        format!("[[token]]\ntoken = \"{token}\"\nprincipal = \"operator:dev\"\n"),
    )
    .unwrap();
    let data = root.join("street-data");
    let db = data.join("gridsync-coordinator.sqlite3");
    let served = data.join("rollup-served");
    let addr = root.join("coordinator.addr");
    let args: Vec<String> = [
        "--street-id",
        "teststreet",
        "--listen",
        "127.0.0.1:0",
        "--data-dir",
        &s(&data),
        "--addr-file",
        &s(&addr),
        "--insecure-dev-tokens",
        &s(&root.join("tokens.toml")),
        "--store-key-file",
        &s(&root.join("coordinator-store.key")),
    ]
    .map(String::from)
    .to_vec();
    let start = || {
        Service::start(
            &coordinator_binary(),
            &args,
            &[],
            &addr,
            root.join("coordinator.log"),
        )
        .unwrap_or_else(|e| panic!("the coordinator did not start: {e}"))
    };
    let mut coord = start();
    let op = |addr: &str, args: &[&str]| {
        let mut all = vec!["--coordinator", addr, "--insecure-dev-token", token];
        all.extend_from_slice(args);
        ok(gridctl(root, &all))
    };
    op(
        &coord.addr,
        &[
            "street",
            "community",
            "add",
            "--id",
            "c01",
            "--name",
            "桐柏路社区",
        ],
    );
    op(&coord.addr, &["rollup", "--depth", "1"]);
    let community = served.join("c01");
    let records: Vec<PathBuf> = std::fs::read_dir(&community)
        .unwrap_or_else(|e| panic!("{}: {e}", community.display()))
        .map(|e| e.unwrap().path())
        .collect();
    assert!(!records.is_empty(), "no record of a rollup served");
    assert_private(&db, &[data.clone(), served.clone(), community.clone()]);
    for r in &records {
        assert_eq!(mode(r), 0o600, "{}", r.display());
    }
    coord.stop();

    set_mode(&data, 0o755);
    set_mode(&served, 0o755);
    set_mode(&community, 0o775);
    set_mode(&records[0], 0o644);
    set_mode(&db, 0o644);
    let coord = start();
    assert_private(&db, &[data.clone(), served.clone(), community.clone()]);
    assert_eq!(mode(&records[0]), 0o600);
    let log = coord.log();
    assert!(
        log.contains("records of rollups served were open to other users"),
        "{log}"
    );
    let table = op(&coord.addr, &["rollup", "--depth", "1"]);
    assert!(table.contains("additive"), "{table}");
}
