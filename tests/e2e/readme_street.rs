//! The README's street, with the real binaries: `gridctl certs` makes the
//! CA and certificates, a `gridsync-coordinator` and two `gridsync-node`
//! processes sync over mutual TLS on loopback, an operator registers the
//! communities and writes the street document with `gridctl street`, and
//! each node's `gridctl status` shows its link converged; and `gridsync-demo`
//! runs the demo street end to end on a small street.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use gridsync_testkit::{coordinator_binary, demo_binary, gridctl_binary, node_binary};

const WITHIN: Duration = Duration::from_secs(60);

/// A child process killed when dropped; its stderr goes to a file.
struct Proc {
    child: Child,
    log: PathBuf,
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Proc {
    fn start(bin: &Path, args: &[&str], log: PathBuf) -> Proc {
        let err = std::fs::File::create(&log).expect("log file");
        let child = Command::new(bin)
            .args(args)
            .env("GRIDSYNC_LOG", "info")
            .stdout(Stdio::null())
            .stderr(err)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", bin.display()));
        Proc { child, log }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

fn wait_addr(file: &Path, p: &mut Proc) -> String {
    let deadline = Instant::now() + WITHIN;
    loop {
        if let Ok(a) = std::fs::read_to_string(file)
            && !a.is_empty()
        {
            return a;
        }
        if let Ok(Some(status)) = p.child.try_wait() {
            panic!("the process exited with {status}: {}", p.log());
        }
        assert!(
            Instant::now() < deadline,
            "no address within {WITHIN:?}: {}",
            p.log()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn gridctl(dir: &Path, args: &[&str]) -> Output {
    Command::new(gridctl_binary())
        .current_dir(dir)
        .args(args)
        .output()
        .expect("run gridctl")
}

fn ok(out: Output) -> String {
    assert!(
        out.status.success(),
        "gridctl failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn a_coordinator_and_two_node_binaries_sync_over_mutual_tls() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    ok(gridctl(
        dir,
        &["certs", "init", "--dir", "certs", "--street", "测试街道"],
    ));
    ok(gridctl(
        dir,
        &["certs", "server", "--dir", "certs", "--host", "localhost"],
    ));
    ok(gridctl(
        dir,
        &["certs", "node", "--dir", "certs", "--community", "c01"],
    ));
    ok(gridctl(
        dir,
        &["certs", "node", "--dir", "certs", "--community", "c02"],
    ));
    ok(gridctl(
        dir,
        &["certs", "operator", "--dir", "certs", "--name", "alice"],
    ));
    for k in ["coordinator", "node-c01", "node-c02"] {
        ok(gridctl(
            dir,
            &["store", "keygen", "--out", &format!("keys/{k}-store.key")],
        ));
    }

    let caddr_file = dir.join("coordinator.addr");
    let d = |p: &str| dir.join(p).to_string_lossy().into_owned();
    let mut coord = Proc::start(
        &coordinator_binary(),
        &[
            "--street-id",
            "teststreet",
            "--data-dir",
            &d("street-data"),
            "--listen",
            "127.0.0.1:0",
            "--addr-file",
            &d("coordinator.addr"),
            "--tls-ca",
            &d("certs/ca.pem"),
            "--tls-cert",
            &d("certs/coordinator.pem"),
            "--tls-key",
            &d("certs/coordinator.key"),
            "--store-key-file",
            &d("keys/coordinator-store.key"),
        ],
        dir.join("coordinator.log"),
    );
    let caddr = wait_addr(&caddr_file, &mut coord);
    let port = caddr.rsplit(':').next().unwrap().to_string();
    let coordinator = format!("localhost:{port}");
    let op = |args: &[&str]| {
        let mut all = vec![
            "--coordinator",
            coordinator.as_str(),
            "--certs",
            "certs",
            "--identity",
            "operator-alice",
        ];
        all.extend_from_slice(args);
        gridctl(dir, &all)
    };
    ok(op(&[
        "street",
        "community",
        "add",
        "--id",
        "c01",
        "--name",
        "桐柏路社区",
    ]));
    ok(op(&[
        "street",
        "community",
        "add",
        "--id",
        "c02",
        "--name",
        "朝阳村",
        "--kind",
        "village",
    ]));

    let mut nodes = Vec::new();
    for c in ["c01", "c02"] {
        let addr_file = dir.join(format!("{c}.addr"));
        let mut p = Proc::start(
            &node_binary(),
            &[
                "--community-id",
                c,
                "--data-dir",
                &d(&format!("data-{c}")),
                "--listen",
                "127.0.0.1:0",
                "--addr-file",
                &addr_file.to_string_lossy(),
                "--coordinator",
                &coordinator,
                "--tls-ca",
                &d("certs/ca.pem"),
                "--tls-cert",
                &d(&format!("certs/node-{c}.pem")),
                "--tls-key",
                &d(&format!("certs/node-{c}.key")),
                "--reconnect-min-ms",
                "50",
                "--reconnect-max-ms",
                "500",
                "--store-key-file",
                &d(&format!("keys/node-{c}-store.key")),
            ],
            dir.join(format!("{c}.log")),
        );
        let addr = wait_addr(&addr_file, &mut p);
        nodes.push((c, addr, p));
    }

    // Work on both sides.
    let n1 = nodes[0].1.clone();
    ok(gridctl(
        dir,
        &[
            "--node",
            &n1,
            "create",
            "compound",
            r#"{"name":"一号院","address":null}"#,
        ],
    ));
    ok(op(&[
        "street",
        "risk",
        "add",
        "--region",
        "某市某区",
        "--level",
        "high",
        "--from",
        "2026-11-20",
    ]));
    ok(op(&[
        "street",
        "dispatch-ticket",
        "--community",
        "c01",
        "--category",
        "环境",
        "--summary",
        "12345 工单",
    ]));

    // Every node: connected, nothing unacknowledged, the street's risk
    // region in its read-only copy; node c01: the dispatched ticket.
    for (c, addr, p) in &nodes {
        let deadline = Instant::now() + WITHIN;
        loop {
            let status: serde_json::Value =
                serde_json::from_str(&ok(gridctl(dir, &["--node", addr, "--json", "status"])))
                    .expect("status is JSON");
            let link = &status["link"];
            let street: serde_json::Value =
                serde_json::from_str(&ok(gridctl(dir, &["--node", addr, "--json", "street-doc"])))
                    .expect("street-doc is JSON");
            let regions = street["risk_regions"].as_array().map_or(0, Vec::len);
            let tickets = if *c == "c01" {
                ok(gridctl(dir, &["--node", addr, "tickets"])).contains("12345 工单")
            } else {
                true
            };
            if link["connected"] == true
                && link["unacknowledged_changes"].as_u64().unwrap_or(1) == 0
                && regions == 1
                && tickets
            {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "node {c} did not converge: {link}\nnode log: {}\ncoordinator log: {}",
                p.log(),
                coord.log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    let list: serde_json::Value =
        serde_json::from_str(&ok(op(&["--json", "street", "communities"]))).expect("JSON");
    let communities = list["communities"].as_array().expect("a list");
    assert_eq!(communities.len(), 2, "{list}");
    assert!(communities.iter().all(|c| c["connected"] == true), "{list}");

    // The rollup as an operator sees it, and as node c01 sees its own.
    let table = ok(op(&["rollup", "--depth", "1"]));
    assert!(table.contains("additive ✓"), "{table}");
    assert!(
        table.contains("c01") || table.contains("桐柏路社区"),
        "{table}"
    );
    let json: serde_json::Value =
        serde_json::from_str(&ok(op(&["--json", "rollup"]))).expect("rollup JSON");
    assert_eq!(json["stamps"].as_array().map_or(0, Vec::len), 2, "{json}");
    let (_, c01_addr, _) = &nodes[0];
    let own = ok(gridctl(dir, &["--node", c01_addr, "rollup"]));
    assert!(own.contains("additive ✓"), "{own}");
    let bad = gridctl(
        dir,
        &["--node", c01_addr, "rollup", "--as-of", "2026-13-01"],
    );
    assert!(!bad.status.success());
    assert!(
        String::from_utf8_lossy(&bad.stderr).contains("as_of"),
        "{}",
        String::from_utf8_lossy(&bad.stderr)
    );
    // c01 signs off its day; the street's report shows it once synced.
    ok(gridctl(
        dir,
        &["--node", c01_addr, "signoff", "--by", "王主任"],
    ));
    let deadline = Instant::now() + WITHIN;
    loop {
        let csv = ok(op(&["report", "--format", "csv"]));
        let signed = csv.lines().any(|l| {
            l.starts_with("community,c01,") && l.contains(",signed,") && l.contains("王主任")
        });
        if signed {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no signed row for c01 in:\n{csv}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// `gridsync-demo` on a small street (150 households a community, 3 days):
/// generation, certificates, the real coordinator and seven nodes behind
/// fault proxies, a cut link and its heal. It must finish, succeed, and say
/// that everything converged and that the street added up.
#[test]
fn the_demo_street_runs_converges_and_adds_up() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let stdout = dir.join("demo.out");
    let stderr = dir.join("demo.err");
    let started = Instant::now();
    let mut child = Command::new(demo_binary())
        .args([
            "--households",
            "150",
            "--days",
            "3",
            "--heartbeat-interval-ms",
            "500",
            "--data-dir",
        ])
        .arg(dir.join("street"))
        .stdout(std::fs::File::create(&stdout).unwrap())
        .stderr(std::fs::File::create(&stderr).unwrap())
        .spawn()
        .expect("run gridsync-demo");
    // The demo's own waits have deadlines; this one catches a hang anyway.
    let deadline = started + Duration::from_secs(180);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "gridsync-demo still running after 180 s:\n{}",
                std::fs::read_to_string(&stdout).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let out = std::fs::read_to_string(&stdout).unwrap_or_default();
    let err = std::fs::read_to_string(&stderr).unwrap_or_default();
    assert!(
        status.success(),
        "gridsync-demo failed ({status}):\n{out}\n{err}"
    );
    for line in [
        "converged: digests match for all 7 communities",
        "street total = Σ its 7 communities in every one of the",
        "while it is stale ✓",
        "after the heal ✓",
        "CHANGED since sign-off",
        "every one exited cleanly",
    ] {
        assert!(out.contains(line), "no {line:?} in:\n{out}\n{err}");
    }
    let tables = out.matches("additive ✓").count();
    assert!(tables >= 6, "{tables} additive tables in:\n{out}");
    assert!(!out.contains("NOT additive"), "{out}");
    assert!(
        std::fs::read_dir(dir.join("street"))
            .unwrap()
            .filter_map(Result::ok)
            .any(|e| e.file_name().to_string_lossy().ends_with(".csv")),
        "no report written in the street's folder"
    );
    eprintln!(
        "gridsync-demo (small street) took {:.1} s",
        started.elapsed().as_secs_f64()
    );
}
