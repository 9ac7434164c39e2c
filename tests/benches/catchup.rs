//! Benchmark: a node catching up after a day of screening offline.
//! Prints a table; asserts nothing about time (timings are not tests).
//!
//!     cargo bench -p gridsync-tests --bench catchup [-- HOUSEHOLDS]
//!
//! What is measured, and how, is at the top of `rows/catchup.rs`, shared
//! with the floor bench (its `catchup` row, beside the in-process floor).

#[path = "rows/catchup.rs"]
mod catchup;

fn row(k: &str, v: String) {
    println!("{k:<58} {v}");
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let households: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(3000);
    println!("gridsync catch-up benchmark: {households} households\n");
    let r = catchup::run(households).await;
    row(
        "first sync of the community: time",
        format!("{:.2} s", r.first_sync.as_secs_f64()),
    );
    row(
        "first sync: bytes node→coordinator / coordinator→node",
        format!("{} / {}", r.first.bytes_sent, r.first.bytes_received),
    );
    row(
        "first sync: frames node→coordinator / coordinator→node",
        format!("{} / {}", r.first.frames_sent, r.first.frames_received),
    );
    row(
        "offline day: screening visits recorded (one change each)",
        format!("{} in {:.2} s", r.visits, r.visits_took.as_secs_f64()),
    );
    row(
        "the day's changes as Automerge saves them: save_after / save",
        format!("{} / {} bytes", r.save_after, r.save_whole),
    );
    let st = &r.status;
    row(
        "catch-up after the offline day: time to converge",
        format!("{:.3} s", r.catch_up.as_secs_f64()),
    );
    row(
        "catch-up: wire bytes node→coordinator / coordinator→node",
        format!("{} / {}", st.bytes_sent, st.bytes_received),
    );
    row(
        "catch-up: wire bytes ÷ save_after",
        format!(
            "{:.2}",
            (st.bytes_sent + st.bytes_received) as f64 / r.save_after as f64
        ),
    );
    row(
        "catch-up: frames node→coordinator / coordinator→node",
        format!(
            "{} / {}",
            st.session_frames_sent, st.session_frames_received
        ),
    );
    for (doc, d) in &st.docs {
        if d.session_frames_sent + d.session_frames_received > 0 {
            row(
                &format!("catch-up: frames out / in for {doc}"),
                format!("{} / {}", d.session_frames_sent, d.session_frames_received),
            );
        }
    }
    row(
        "floor: the day's changes by Automerge sync in process",
        format!(
            "{:.3} s, {} bytes of messages",
            r.floor.as_secs_f64(),
            r.floor_bytes
        ),
    );
}
