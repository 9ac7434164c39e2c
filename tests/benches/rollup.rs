//! Benchmark: the street's rollup at the coordinator for the standard demo
//! street. Prints a table; asserts nothing about time.
//!
//!     cargo bench -p gridsync-tests --bench rollup [-- HOUSEHOLDS_PER_COMMUNITY]
//!
//! The seeded street (6 communities and 1 village, 23 compounds, 3,000
//! households each, 30 days of activity) is written into a coordinator
//! store; the coordinator's replicas are opened on it as the service does.
//! Measured: the first full rollup (loading every registry, cases and
//! today's activity, hydrating and computing) and its floor (Automerge
//! loading the same bytes), a second one (cached), one edit (a hotline
//! ticket dispatched into a community) and the rollup after it, and the
//! process's memory (VmRSS, VmHWM) at each step. The seeding, opening and
//! first rollup are `rows/street_rollup.rs`, shared with the floor bench
//! (its `street_rollup` row).

#[path = "rows/load.rs"]
mod load;
#[path = "rows/street_rollup.rs"]
#[allow(dead_code)]
mod street_rollup;

use std::time::Instant;

use gridsync_core::*;
use gridsync_testkit::now_ms;
use street_rollup::{TZ, mem};

fn row(k: &str, v: String) {
    println!("{k:<52} {v}");
}

fn main() {
    let households: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(3000);
    let tz = TZ;
    let street = street_rollup::seed(households);
    let (seeded, today) = (&street.seeded, street.today);
    row(
        "seeded street (7 stores + coordinator)",
        format!(
            "{:.2} s, {} households, {} residents, {} documents",
            street.seed_took.as_secs_f64(),
            seeded.counts.households,
            seeded.counts.residents,
            seeded.documents
        ),
    );
    let db = street.coordinator_db();
    let (floor, docs, bytes) = street.raw_load(&db);
    row(
        "floor: Automerge load of the documents the rollup reads",
        format!(
            "{:.3} s ({docs} documents, {:.1} MiB)",
            floor.as_secs_f64(),
            bytes as f64 / 1048576.0
        ),
    );
    let (r, opened) = street.open(&db);
    row(
        "open the coordinator's replicas",
        format!("{:.3} s; {}", opened.as_secs_f64(), mem()),
    );
    let (first, took) = street_rollup::rollup(&r, today);
    row(
        "first full rollup (load + hydrate + compute)",
        format!("{:.3} s; {}", took.as_secs_f64(), mem()),
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
