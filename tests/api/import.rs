//! CSV import through the real `gridctl` binary against a node serving on
//! 127.0.0.1:0: a file with good and bad rows gives the report documented in
//! docs/roster.md and imports only the good rows; a second run adds nothing.

use std::path::PathBuf;
use std::time::Duration;

use gridsync_core::*;
use gridsync_node::office::{Office, OfficeConfig};
use gridsync_node::server::serve;
use gridsync_node::service::OfficeHandle;
use gridsync_proto::office::v1 as pb;
use gridsync_svc::Clock;
use gridsync_testkit::{gridctl_binary, now_ms};

fn repo_file(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(rel)
}

struct Node {
    addr: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
}

async fn start(dir: &std::path::Path) -> Node {
    let cfg = OfficeConfig {
        community: CommunityId::parse("tongbai").unwrap(),
        community_name: "桐柏路社区".into(),
        community_kind: CommunityKind::Community,
        db_path: dir.join("gridsync-node.sqlite3"),
        tz: chrono_tz::Asia::Shanghai,
        secret: Some(PersonKeySecret::new(vec![5u8; 32]).unwrap()),
        compact_after_chunks: 256,
        store_key: Some(gridsync_testkit::store_key()),
    };
    let office = Office::open(cfg, now_ms()).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        serve(
            OfficeHandle::new(office),
            Default::default(),
            Clock::system(),
            listener,
            async {
                let _ = rx.await;
            },
            Duration::from_secs(5),
        )
        .await
        .unwrap();
    });
    Node {
        addr,
        stop: Some(tx),
        task,
    }
}

fn gridctl(addr: &str, args: &[&str]) -> (i32, String, String) {
    let out = std::process::Command::new(gridctl_binary())
        .arg("--node")
        .arg(addr)
        .args(args)
        .output()
        .expect("run gridctl");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

async fn heads(addr: &str) -> Vec<(String, Vec<String>)> {
    let mut c = gridsync_cli::connect::node(addr).await.unwrap();
    let s = c
        .get_status(pb::GetStatusRequest {})
        .await
        .unwrap()
        .into_inner();
    s.docs.into_iter().map(|d| (d.doc_id, d.heads)).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn import_reports_bad_rows_imports_good_ones_and_is_idempotent() {
    let dir = tempfile::tempdir().unwrap();
    let mut node = start(dir.path()).await;
    let example = repo_file("docs/roster-example.csv");
    let example = example.to_str().unwrap().to_string();

    // Human output: every rejection documented in docs/roster.md is printed.
    let (code, out, err) = tokio::task::spawn_blocking({
        let a = node.addr.clone();
        let e = example.clone();
        move || gridctl(&a, &["import", &e])
    })
    .await
    .unwrap();
    assert_eq!(code, 3, "exit status with rejected rows; stderr: {err}");
    let doc = std::fs::read_to_string(repo_file("docs/roster.md")).unwrap();
    let documented: Vec<&str> = doc
        .lines()
        .filter(|l| l.starts_with("  rejected line"))
        .collect();
    assert_eq!(documented.len(), 6, "docs/roster.md lists the rejections");
    for line in &documented {
        assert!(
            out.lines().any(|l| l == *line),
            "documented line missing from the report:\n{line}\n--- got:\n{out}"
        );
    }
    assert!(
        out.contains("5 new, 0 updated, 0 unchanged, 5 rejected; 18 records created"),
        "{out}"
    );

    // Only the good rows are stored.
    let mut c = gridsync_cli::connect::node(&node.addr).await.unwrap();
    let residents = c
        .list_records(pb::ListRecordsRequest {
            kind: "resident".into(),
            day: String::new(),
            limit: 0,
            after_id: String::new(),
        })
        .await
        .unwrap()
        .into_inner()
        .records;
    let mut names: Vec<String> = residents
        .into_iter()
        .map(|r| match Record::try_from(r).unwrap() {
            Record::Resident(r) => r.name,
            other => panic!("not a resident: {other:?}"),
        })
        .collect();
    names.sort();
    let mut want = vec!["张建国", "李秀英", "刘桂兰", "陈明", "马超"];
    want.sort();
    assert_eq!(names, want);
    let tree = c
        .get_tree(pb::GetTreeRequest {})
        .await
        .unwrap()
        .into_inner();
    assert_eq!((tree.households, tree.residents), (4, 5));

    // A second run, as JSON: nothing new, and no document changes at all.
    let before = heads(&node.addr).await;
    let (code, out, err) = tokio::task::spawn_blocking({
        let a = node.addr.clone();
        let e = example.clone();
        move || gridctl(&a, &["--json", "import", &e])
    })
    .await
    .unwrap();
    assert_eq!(code, 3, "{err}");
    let rep: serde_json::Value =
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
    assert_eq!(rep["rows_created"], 0);
    assert_eq!(rep["records_created"], 0);
    assert_eq!(rep["rows_unchanged"], 5);
    let lines: Vec<u64> = rep["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["line"].as_u64().unwrap())
        .collect();
    assert_eq!(lines, vec![6, 7, 8, 9, 10, 10]);
    assert_eq!(
        heads(&node.addr).await,
        before,
        "a repeated import changed a document"
    );

    // A file that is not a roster is refused whole, naming the problem.
    let bad = dir.path().join("bad.csv");
    std::fs::write(&bad, "楼院,楼栋,shoe size\n").unwrap();
    let (code, _, err) = tokio::task::spawn_blocking({
        let a = node.addr.clone();
        let b = bad.to_str().unwrap().to_string();
        move || gridctl(&a, &["import", &b])
    })
    .await
    .unwrap();
    assert_eq!(code, 1);
    assert!(err.contains("shoe size"), "{err}");
    assert_eq!(heads(&node.addr).await, before);

    let _ = node.stop.take().unwrap().send(());
    node.task.await.unwrap();
}
