//! The architecture invariants of ARCHITECTURE.md, checked: each states
//! what is deliberately absent, and each fails here if it is broken.
//!
//! - Crates depend only on crates below them in the layer order
//!   ([`LAYERS`]); in particular the coordinator never depends on the node
//!   and no product crate depends on the test kit.
//! - The core does no IO: no tokio, tonic, prost, rusqlite, rand among its
//!   dependencies, and no `std::fs`, `std::net`, `SystemTime` in its code.
//! - No product source file is over 1,000 lines; no module of a product
//!   crate is in an import cycle with another.
//! - Status codes are chosen in one place: `tonic::Status::<code>(…)` is
//!   written only in `svc/src/error.rs`.
//! - Every crate's root opens with a `//!` doc.
//! - The shipped systemd units keep their limits and their sandbox: open
//!   files well above the connection cap, a memory ceiling, a read-only
//!   system, no new privileges, a private /tmp (issue 12).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The product crates from the bottom up: a crate may depend only on
/// crates before it. The test kit and the tests sit above all of them.
const LAYERS: &[&str] = &[
    "gridsync-core",
    "gridsync-proto",
    "gridsync-store",
    "gridsync-svc",
    "gridsync-sync",
    "gridsync-node",
    "gridsync-coordinator",
    "gridsync-cli",
];

/// The product crates' folders, for the source checks.
const PRODUCT_DIRS: &[&str] = &[
    "core",
    "proto",
    "store",
    "svc",
    "sync",
    "node",
    "coordinator",
    "cli",
];

const MAX_PRODUCT_FILE_LINES: usize = 1000;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ is in the workspace")
        .to_path_buf()
}

/// Every workspace package with its normal (not dev, not build)
/// dependencies, from `cargo metadata`.
fn normal_deps() -> BTreeMap<String, Vec<(String, bool)>> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = std::process::Command::new(cargo)
        .args([
            "metadata",
            "--format-version",
            "1",
            "--no-deps",
            "--offline",
        ])
        .current_dir(root())
        .output()
        .expect("run cargo metadata");
    assert!(
        out.status.success(),
        "cargo metadata failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let meta: serde_json::Value = serde_json::from_slice(&out.stdout).expect("metadata is JSON");
    let mut map = BTreeMap::new();
    for p in meta["packages"].as_array().expect("packages") {
        let name = p["name"].as_str().expect("name").to_string();
        let deps = p["dependencies"]
            .as_array()
            .expect("dependencies")
            .iter()
            .filter(|d| d["kind"].is_null())
            .map(|d| {
                (
                    d["name"].as_str().expect("dep name").to_string(),
                    d["optional"].as_bool().unwrap_or(false),
                )
            })
            .collect();
        map.insert(name, deps);
    }
    map
}

#[test]
fn product_crates_depend_only_on_crates_below_them() {
    let deps = normal_deps();
    let mut broken = Vec::new();
    for (i, krate) in LAYERS.iter().enumerate() {
        let own = deps
            .get(*krate)
            .unwrap_or_else(|| panic!("{krate} is not a workspace package"));
        for (dep, _) in own.iter().filter(|(d, _)| d.starts_with("gridsync-")) {
            match LAYERS.iter().position(|l| l == dep) {
                Some(j) if j < i => {}
                Some(_) => broken.push(format!("{krate} depends on {dep}, which is not below it")),
                None => broken.push(format!(
                    "{krate} (a product crate) depends on {dep}, which is not a product crate"
                )),
            }
        }
    }
    assert!(broken.is_empty(), "{}", broken.join("\n"));
    // Every workspace package is placed: in the layers, or above them.
    for name in deps.keys() {
        assert!(
            LAYERS.contains(&name.as_str())
                || ["gridsync-testkit", "gridsync-tests"].contains(&name.as_str()),
            "{name} is in no layer of ARCHITECTURE.md"
        );
    }
}

#[test]
fn the_coordinator_never_depends_on_the_node_and_no_product_crate_on_the_test_kit() {
    let deps = normal_deps();
    let closure = |start: &str| {
        let mut seen = BTreeSet::new();
        let mut todo = vec![start.to_string()];
        while let Some(k) = todo.pop() {
            for (d, _) in deps.get(&k).into_iter().flatten() {
                if d.starts_with("gridsync-") && seen.insert(d.clone()) {
                    todo.push(d.clone());
                }
            }
        }
        seen
    };
    assert!(!closure("gridsync-coordinator").contains("gridsync-node"));
    for krate in LAYERS {
        assert!(
            !closure(krate).contains("gridsync-testkit"),
            "{krate} depends on the test kit"
        );
    }
}

#[test]
fn the_core_does_no_io() {
    let deps = normal_deps();
    let core: Vec<&str> = deps["gridsync-core"]
        .iter()
        .map(|(d, _)| d.as_str())
        .collect();
    for io in ["tokio", "tonic", "prost", "rusqlite", "rand", "tracing"] {
        assert!(!core.contains(&io), "gridsync-core depends on {io}");
    }
    for (path, text) in rust_files(&root().join("core/src")) {
        for io in [
            "std::fs",
            "std::net",
            "SystemTime",
            "Instant::now",
            "thread_rng",
            "std::env",
        ] {
            assert!(
                !text.contains(io),
                "{} uses {io}: the core does no IO and reads no clock",
                path.display()
            );
        }
    }
}

fn rust_files(dir: &Path) -> Vec<(PathBuf, String)> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).unwrap_or_else(|e| panic!("{}: {e}", d.display())) {
            let p = e.expect("a directory entry").path();
            if p.is_dir() {
                todo.push(p);
            } else if p.extension().is_some_and(|x| x == "rs") {
                let text = std::fs::read_to_string(&p).expect("read a source file");
                out.push((p, text));
            }
        }
    }
    out.sort();
    out
}

#[test]
fn no_product_source_file_is_over_a_thousand_lines() {
    let mut long = Vec::new();
    for dir in PRODUCT_DIRS {
        for (path, text) in rust_files(&root().join(dir).join("src")) {
            let n = text.lines().count();
            if n > MAX_PRODUCT_FILE_LINES {
                long.push(format!("{} has {n} lines", path.display()));
            }
        }
    }
    assert!(long.is_empty(), "{}", long.join("\n"));
}

/// The top-level module a source file belongs to (`office` for
/// `src/office/host.rs`), or `None` for the crate root and binaries.
fn top_module(src: &Path, file: &Path) -> Option<String> {
    let rel = file.strip_prefix(src).ok()?;
    let first = rel.components().next()?.as_os_str().to_str()?.to_string();
    if first == "bin" || first == "lib.rs" || first == "main.rs" {
        return None;
    }
    Some(first.trim_end_matches(".rs").to_string())
}

/// The `crate::x` paths a text's code names (test modules and comments,
/// doc links included, left out).
fn crate_refs(text: &str) -> BTreeSet<String> {
    let code: String = text
        .split("#[cfg(test)]\nmod tests")
        .next()
        .unwrap_or(text)
        .lines()
        .filter(|l| !l.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n");
    let mut out = BTreeSet::new();
    let mut rest = code.as_str();
    while let Some(i) = rest.find("crate::") {
        rest = &rest[i + "crate::".len()..];
        let name: String = rest
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        if !name.is_empty() {
            out.insert(name);
        }
    }
    out
}

#[test]
fn no_module_of_a_product_crate_is_in_an_import_cycle() {
    let mut cycles = Vec::new();
    for dir in PRODUCT_DIRS {
        let src = root().join(dir).join("src");
        let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for (path, text) in rust_files(&src) {
            if let Some(m) = top_module(&src, &path) {
                let refs = crate_refs(&text);
                graph
                    .entry(m.clone())
                    .or_default()
                    .extend(refs.into_iter().filter(|r| *r != m));
            }
        }
        let modules: BTreeSet<String> = graph.keys().cloned().collect();
        for m in &modules {
            // Reachable from m's dependencies back to m: a cycle.
            let mut seen = BTreeSet::new();
            let mut todo: Vec<String> = graph[m]
                .iter()
                .filter(|d| modules.contains(*d))
                .cloned()
                .collect();
            while let Some(x) = todo.pop() {
                if !seen.insert(x.clone()) {
                    continue;
                }
                if let Some(next) = graph.get(&x) {
                    todo.extend(next.iter().filter(|d| modules.contains(*d)).cloned());
                }
            }
            if seen.contains(m) {
                cycles.push(format!("{dir}: {m} is in a cycle (it reaches {seen:?})"));
            }
        }
    }
    assert!(cycles.is_empty(), "{}", cycles.join("\n"));
}

/// Whether a line builds a `Status` with a code (`Status::not_found(…)`,
/// `tonic::Status::internal(…)`), as opposed to converting one
/// (`Status::from`) or naming another type (`SignOffStatus::try_from`).
fn status_code_chosen(line: &str) -> bool {
    let mut rest = line;
    while let Some(i) = rest.find("Status::") {
        let before = rest[..i].chars().next_back();
        let after = &rest[i + "Status::".len()..];
        let word_start = before.is_none_or(|c| !(c.is_ascii_alphanumeric() || c == '_'));
        if word_start
            && after.starts_with(|c: char| c.is_ascii_lowercase())
            && !after.starts_with("from")
        {
            return true;
        }
        rest = after;
    }
    false
}

#[test]
fn status_codes_are_chosen_only_in_the_one_mapping() {
    let mut found = Vec::new();
    let mapping = root().join("svc/src/error.rs");
    // The wire codec decodes requests before any service sees them.
    let codec = root().join("proto/src/codec.rs");
    for dir in PRODUCT_DIRS {
        for (path, text) in rust_files(&root().join(dir).join("src")) {
            if path == mapping || path == codec {
                continue;
            }
            let code = text.split("#[cfg(test)]").next().unwrap_or(&text);
            for (n, line) in code.lines().enumerate() {
                let t = line.trim_start();
                if t.starts_with("//") {
                    continue;
                }
                if status_code_chosen(t) {
                    found.push(format!("{}:{}: {}", path.display(), n + 1, t));
                }
            }
        }
    }
    assert!(
        found.is_empty(),
        "status codes chosen outside svc/src/error.rs (return an ApiError instead):\n{}",
        found.join("\n")
    );
}

#[test]
fn every_crate_root_says_what_the_crate_is_for() {
    for dir in PRODUCT_DIRS.iter().chain(&["testkit"]) {
        for root_file in ["src/lib.rs", "src/main.rs"] {
            let p = root().join(dir).join(root_file);
            if let Ok(text) = std::fs::read_to_string(&p) {
                assert!(
                    text.starts_with("//!"),
                    "{} does not open with a //! doc",
                    p.display()
                );
            }
        }
    }
}

#[test]
fn the_checks_see_a_cycle_and_a_status_when_there_is_one() {
    // The helpers the checks rely on, on hand-made input.
    let refs = crate_refs(
        "//! See [`crate::config`].\nuse crate::office::Office;\nfn f() { crate::link::run() }\n#[cfg(test)]\nmod tests { use crate::server; }",
    );
    assert_eq!(refs.into_iter().collect::<Vec<_>>(), ["link", "office"]);
    let src = Path::new("/x/src");
    assert_eq!(
        top_module(src, Path::new("/x/src/office/host.rs")).as_deref(),
        Some("office")
    );
    assert_eq!(top_module(src, Path::new("/x/src/lib.rs")), None);
    assert_eq!(top_module(src, Path::new("/x/src/bin/demo/main.rs")), None);
    assert!(status_code_chosen("return Err(Status::not_found(\"x\"));"));
    assert!(status_code_chosen("tonic::Status::internal(e)"));
    assert!(!status_code_chosen("Status::from(e)"));
    assert!(!status_code_chosen("rpb::SignOffStatus::try_from(x)"));
}

/// The `[Service]` directives of a unit: each key with its values, in order
/// (a key may be given more than once).
fn service_directives(text: &str) -> BTreeMap<String, Vec<String>> {
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut in_service = false;
    for line in text.lines().map(str::trim) {
        if line.starts_with('[') {
            in_service = line == "[Service]";
        } else if in_service
            && !line.starts_with('#')
            && let Some((k, v)) = line.split_once('=')
        {
            out.entry(k.trim().to_string())
                .or_default()
                .push(v.trim().to_string());
        }
    }
    out
}

/// A systemd size (`1536M`, `1G`, bytes) in bytes.
fn systemd_bytes(v: &str) -> Option<u64> {
    let (n, unit) = v.split_at(v.find(|c: char| !c.is_ascii_digit()).unwrap_or(v.len()));
    let n: u64 = n.parse().ok()?;
    let mult = match unit {
        "" => 1,
        "K" => 1 << 10,
        "M" => 1 << 20,
        "G" => 1 << 30,
        _ => return None,
    };
    Some(n * mult)
}

#[test]
fn the_systemd_units_keep_their_limits_and_sandbox() {
    let node_cap = gridsync_sync::accept::AcceptLimits::default().max_connections as u64;
    let coordinator_cap = gridsync_coordinator::config::DEFAULT_MAX_CONNECTIONS as u64;
    for (unit, cap) in [
        ("gridsync-node.service", node_cap),
        ("gridsync-coordinator.service", coordinator_cap),
    ] {
        let path = root().join("deploy/systemd").join(unit);
        let text =
            std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let d = service_directives(&text);
        let one = |key: &str| -> &str {
            match d.get(key).map(Vec::as_slice) {
                Some([v]) => v,
                other => panic!("{unit}: {key}= should be set once, found {other:?}"),
            }
        };
        for (key, want) in [
            ("ProtectSystem", "strict"),
            ("NoNewPrivileges", "yes"),
            ("PrivateTmp", "yes"),
            ("DynamicUser", "yes"),
            ("CapabilityBoundingSet", ""),
            ("UMask", "0077"),
        ] {
            assert_eq!(one(key), want, "{unit}: {key}=");
        }
        let files: u64 = one("LimitNOFILE")
            .parse()
            .unwrap_or_else(|e| panic!("{unit}: LimitNOFILE: {e}"));
        assert!(
            files >= 4 * cap,
            "{unit}: LimitNOFILE={files} is not well above the {cap} connections the acceptor allows"
        );
        let max = systemd_bytes(one("MemoryMax"))
            .unwrap_or_else(|| panic!("{unit}: MemoryMax is not a size"));
        let high = systemd_bytes(one("MemoryHigh"))
            .unwrap_or_else(|| panic!("{unit}: MemoryHigh is not a size"));
        assert!(high < max, "{unit}: MemoryHigh should be below MemoryMax");
        assert!(
            d.get("SystemCallFilter")
                .is_some_and(|v| v.iter().any(|f| f == "@system-service")),
            "{unit}: no SystemCallFilter=@system-service"
        );
    }
    assert_eq!(systemd_bytes("1536M"), Some(1536 << 20));
    assert_eq!(systemd_bytes("lots"), None);
}
