//! Generates the demo street into a directory and prints how long it took
//! (by phase), what it holds, the size of every store and the peak memory.
//! A measurement, not a test: it asserts nothing about time.
//!
//!     cargo run --release -p gridsync-node --example demo_street_gen -- DIR \
//!         [--seed N] [--households N] [--days N]
//!
//! DIR must not hold stores yet. It gets `coordinator/` (the coordinator's
//! data directory) and `node-<community>/` per community; `as_of` is today
//! in Asia/Shanghai and `now` the current time.

use std::path::{Path, PathBuf};

use std::time::Instant;

use anyhow::{Context, bail};
use gridsync_core::DocId;
use gridsync_core::replica::{day_of_instant, load_doc};
use gridsync_store::Store;
use gridsync_testkit::demo_street::{self, StreetSpec};

/// Bytes of a store file and its WAL (and nothing else of the directory).
fn store_bytes(path: &Path) -> u64 {
    let size = |p: PathBuf| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
    let mut wal = path.as_os_str().to_owned();
    wal.push("-wal");
    size(path.to_path_buf()) + size(PathBuf::from(wal))
}

fn mib(bytes: u64) -> String {
    format!("{:.2} MiB", bytes as f64 / (1024.0 * 1024.0))
}

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let mut dir: Option<PathBuf> = None;
    let (mut seed, mut households, mut days) = (20261129u64, 3000usize, 30u32);
    while let Some(a) = args.next() {
        let mut value = |name: &str| args.next().with_context(|| format!("{name} needs a value"));
        match a.as_str() {
            "--seed" => seed = value("--seed")?.parse().context("--seed")?,
            "--households" => {
                households = value("--households")?.parse().context("--households")?
            }
            "--days" => days = value("--days")?.parse().context("--days")?,
            s if !s.starts_with("--") && dir.is_none() => dir = Some(PathBuf::from(s)),
            other => bail!(
                "unexpected argument {other:?}; usage: demo_street_gen DIR [--seed N] [--households N] [--days N]"
            ),
        }
    }
    let dir = dir.context("usage: demo_street_gen DIR [--seed N] [--households N] [--days N]")?;
    let now_ms = gridsync_testkit::now_ms();
    let as_of = day_of_instant(now_ms, demo_street::TIME_ZONE).context("the clock is off")?;
    let spec = StreetSpec {
        seed,
        households_per_community: households,
        days,
        as_of,
        now_ms,
    };
    let coordinator_dir = dir.join("coordinator");
    let key = gridsync_testkit::store_key();
    let node_dir = |c: &gridsync_core::CommunityId| dir.join(format!("node-{c}"));
    println!(
        "demo street: seed {seed}, {households} households a community, {days} days to {as_of}\n"
    );
    let seeded = demo_street::seed(&spec, &coordinator_dir, &node_dir, Some(&key))?;
    let peak = gridsync_svc::process::memory(None).map(|m| m.peak_mib());

    let t = &seeded.timings;
    let secs = |d: std::time::Duration| format!("{:.2} s", d.as_secs_f64());
    println!("{:<48} time", "phase");
    println!("{:<48} {}", "street document", secs(t.street));
    println!(
        "{:<48} {}",
        "generate records (summed over 2 workers)",
        secs(t.generate)
    );
    println!(
        "{:<48} {}",
        "save documents (summed over 2 workers)",
        secs(t.save)
    );
    println!(
        "{:<48} {}",
        "write node stores (summed over 2 workers)",
        secs(t.write_nodes)
    );
    println!(
        "{:<48} {}",
        "write coordinator store",
        secs(t.write_coordinator)
    );
    println!("{:<48} {}", "total (wall)", secs(t.total));
    println!(
        "{:<48} {}",
        "peak RSS (VmHWM)",
        peak.map_or("unknown".into(), |m| format!("{m:.0} MiB"))
    );

    println!(
        "\n{:<20} {:>5} {:>6} {:>7} {:>6} {:>6} {:>7} {:>6} {:>7} {:>10}",
        "community", "cpds", "hh", "people", "groups", "gaps", "visits", "tkts", "isol", "store"
    );
    let mut total_bytes = 0;
    for c in &seeded.communities {
        let bytes = store_bytes(&node_dir(&c.id).join(demo_street::NODE_DB_FILE));
        total_bytes += bytes;
        let n = &c.counts;
        println!(
            "{:<20} {:>5} {:>6} {:>7} {:>6} {:>6} {:>7} {:>6} {:>7} {:>10}",
            c.id.as_str(),
            c.compounds,
            c.households,
            c.residents,
            n.contract_groups,
            n.households_without_group,
            n.screening_visits,
            n.tickets,
            n.isolations,
            mib(bytes)
        );
    }
    let coordinator_bytes = store_bytes(&coordinator_dir.join(demo_street::COORDINATOR_DB_FILE));
    println!("{:<20} {:>75}", "coordinator", mib(coordinator_bytes));
    println!(
        "{:<20} {:>75}",
        "all 8 stores",
        mib(total_bytes + coordinator_bytes)
    );
    println!("\nstreet totals: {:#?}", seeded.counts);
    println!(
        "documents: {} (each in its node's store and the coordinator's, same heads); persons registered twice: {}",
        seeded.documents, seeded.duplicate_persons
    );

    // What a reader pays: the first community's documents loaded from its
    // store as written, then as a compacted snapshot (what the node and the
    // coordinator turn them into when they compact).
    let first = &seeded.communities[0];
    let store = Store::open(
        &node_dir(&first.id).join(demo_street::NODE_DB_FILE),
        Some(&key),
    )?;
    let first_day = as_of - chrono::Days::new(u64::from(days.saturating_sub(1)));
    println!(
        "\n{:<40} {:>10} {:>9} {:>10} {:>9} {:>10}",
        "loading from the store", "stored", "load", "snapshot", "save", "load snap"
    );
    for id in [
        DocId::Registry(first.id.clone()),
        DocId::Cases(first.id.clone()),
        DocId::Activity(first.id.clone(), as_of),
        DocId::Activity(first.id.clone(), first_day),
    ] {
        let t = Instant::now();
        let s = store
            .load_doc(&id)?
            .context("a generated document is missing")?;
        let stored: usize = s.chunks.iter().map(Vec::len).sum();
        let mut doc = load_doc(
            s.snapshot.as_deref(),
            s.chunks.iter().map(Vec::as_slice),
            &id,
        )?;
        let load = t.elapsed();
        let t = Instant::now();
        let snapshot = doc.save();
        let save = t.elapsed();
        let t = Instant::now();
        let _ = automerge::AutoCommit::load(&snapshot)?;
        let load_snapshot = t.elapsed();
        let ms = |d: std::time::Duration| format!("{:.0} ms", d.as_secs_f64() * 1000.0);
        println!(
            "{:<40} {:>10} {:>9} {:>10} {:>9} {:>10}",
            id.to_string(),
            format!("{} KB", stored / 1024),
            ms(load),
            format!("{} KB", snapshot.len() / 1024),
            ms(save),
            ms(load_snapshot)
        );
    }
    drop(store);

    println!("\nto run it (development tokens left out):");
    println!(
        "  gridsync-coordinator --street-id {} --data-dir {}",
        seeded.street_id,
        coordinator_dir.display()
    );
    for c in &seeded.communities {
        let kind = match c.kind {
            gridsync_core::CommunityKind::Community => "community",
            gridsync_core::CommunityKind::Village => "village",
        };
        println!(
            "  gridsync-node --community-id {} --community-name '{}' --community-kind {kind} --data-dir {} --time-zone Asia/Shanghai --person-key-secret {}",
            c.id,
            c.name,
            node_dir(&c.id).display(),
            seeded.secret_hex
        );
    }
    Ok(())
}
