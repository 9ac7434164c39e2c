//! Benchmark: the street's rollup at the coordinator for the standard demo
//! street. Prints a table; asserts nothing about time.
//!
//!     cargo bench -p gridsync-tests --bench rollup [-- HOUSEHOLDS_PER_COMMUNITY]
//!
//! The seeded street (6 communities and 1 village, 23 compounds, 3,000
//! households each, 30 days of activity) is written into a coordinator
//! store; the coordinator's replicas are opened on it as the service does.
//! Measured: the first full rollup (loading every registry, cases and
//! today's activity, hydrating and computing), a second one (cached), one
//! edit (a hotline ticket dispatched into a community) and the rollup
//! after it, and the process's memory (VmRSS, VmHWM) at each step.

use std::time::Instant;

use gridsync_coordinator::replicas::{ReplicasConfig, StreetReplicas};
use gridsync_core::*;
use gridsync_testkit::demo_street::{self, StreetSpec};
use gridsync_testkit::now_ms;

fn mem() -> String {
    match gridsync_svc::process::memory(None) {
        Some(m) => format!("RSS {:.0} MiB, peak {:.0} MiB", m.rss_mib(), m.peak_mib()),
        None => "memory unknown".into(),
    }
}

fn row(k: &str, v: String) {
    println!("{k:<52} {v}");
}

fn main() {
    let households: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(3000);
    let tz = chrono_tz::Asia::Shanghai;
    let now = now_ms() - 60_000;
    let today = gridsync_core::replica::day_of_instant(now, tz).expect("today");
    let dir = tempfile::tempdir().expect("tempdir");
    let mut spec = StreetSpec::standard(20261129, today, now);
    spec.households_per_community = households;
    let t = Instant::now();
    let seeded = demo_street::seed(
        &spec,
        &dir.path().join("coordinator"),
        &|c| dir.path().join("nodes").join(c.as_str()),
        Some(&gridsync_testkit::store_key()),
    )
    .expect("seed the street");
    row(
        "seeded street (7 stores + coordinator)",
        format!(
            "{:.2} s, {} households, {} residents, {} documents",
            t.elapsed().as_secs_f64(),
            seeded.counts.households,
            seeded.counts.residents,
            seeded.documents
        ),
    );
    let cfg = ReplicasConfig {
        street_id: seeded.street_id.clone(),
        street_name: seeded.street_name.clone(),
        db_path: dir
            .path()
            .join("coordinator")
            .join(demo_street::COORDINATOR_DB_FILE),
        tz,
        compact_after_chunks: 256,
        stale_after_ms: 15 * 60 * 1000,
        memory: gridsync_svc::memory::Ceiling::none(),
        store_key: Some(gridsync_testkit::store_key()),
    };
    let t = Instant::now();
    let r = StreetReplicas::open(cfg).expect("open the replicas");
    row(
        "open the coordinator's replicas",
        format!("{:.3} s; {}", t.elapsed().as_secs_f64(), mem()),
    );
    let t = Instant::now();
    let first = r.street_report(today, tz, now_ms()).expect("rollup");
    row(
        "first full rollup (load + hydrate + compute)",
        format!("{:.3} s; {}", t.elapsed().as_secs_f64(), mem()),
    );
    let t = Instant::now();
    let again = r.street_report(today, tz, now_ms()).expect("rollup");
    row(
        "second rollup (nothing changed)",
        format!("{:.1} ms", t.elapsed().as_secs_f64() * 1000.0),
    );
    assert_eq!(first.tree, again.tree);
    let c = CommunityId::parse(seeded.communities[2].id.as_str()).expect("id");
    let t = Instant::now();
    r.dispatch_ticket(
        &c,
        Ticket {
            id: String::new(),
            received_at_ms: now_ms(),
            channel: TicketChannel::Hotline,
            category: "环境".into(),
            summary: "12345 benchmark ticket".into(),
            caller_phone: None,
            assigned_compound_id: None,
            assigned_staff_id: None,
            resolved_at_ms: None,
            resolution: None,
        },
        "bench",
        now_ms(),
    )
    .expect("dispatch");
    row(
        "one edit: a ticket dispatched into one community",
        format!(
            "{:.1} ms (validate + commit)",
            t.elapsed().as_secs_f64() * 1000.0
        ),
    );
    let t = Instant::now();
    let _after_one = r.street_report(today, tz, now_ms()).expect("rollup");
    row(
        "rollup after that edit",
        format!("{:.1} ms; {}", t.elapsed().as_secs_f64() * 1000.0, mem()),
    );
    // The same again, split: the one community recomputed, then the street.
    let ticket = |summary: &str| Ticket {
        id: String::new(),
        received_at_ms: now_ms(),
        channel: TicketChannel::Hotline,
        category: "环境".into(),
        summary: summary.into(),
        caller_phone: None,
        assigned_compound_id: None,
        assigned_staff_id: None,
        resolved_at_ms: None,
        resolution: None,
    };
    r.dispatch_ticket(
        &c,
        ticket("12345 second benchmark ticket"),
        "bench",
        now_ms(),
    )
    .expect("dispatch");
    let t = Instant::now();
    let one = r.community_rollup(&c, today, tz).expect("community rollup");
    row(
        "  of which: that community's rollup recomputed",
        format!(
            "{:.1} ms ({} households)",
            t.elapsed().as_secs_f64() * 1000.0,
            one.tree.figures.households
        ),
    );
    let t = Instant::now();
    let after = r.street_report(today, tz, now_ms()).expect("rollup");
    row(
        "  of which: the street's report over it (stamps, served record, tree)",
        format!("{:.1} ms", t.elapsed().as_secs_f64() * 1000.0),
    );
    let before_open = first.tree.figures.tickets_opened;
    row(
        "street figures",
        format!(
            "{} households, {} residents, tickets opened today {} -> {}, {} conflicts",
            after.tree.figures.households,
            after.tree.figures.residents,
            before_open,
            after.tree.figures.tickets_opened,
            after.conflicts.len()
        ),
    );
}
