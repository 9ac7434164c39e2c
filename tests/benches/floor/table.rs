//! The floor bench's table: one row per measure beside its floor, each
//! measured `GRIDSYNC_BENCH_REPEAT` times and shown as median (min–max).

pub fn repeat() -> usize {
    std::env::var("GRIDSYNC_BENCH_REPEAT")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(3)
        .max(1)
}

/// Median and range of a few runs' figures.
pub fn spread(mut v: Vec<f64>) -> (f64, f64, f64) {
    v.sort_by(f64::total_cmp);
    (v[v.len() / 2], v[0], v[v.len() - 1])
}

/// Seconds as "median s (min–max)", with `digits` decimals.
pub fn secs(v: Vec<f64>, digits: usize) -> (f64, String) {
    let (m, lo, hi) = spread(v);
    (m, format!("{m:.digits$} s ({lo:.digits$}–{hi:.digits$})"))
}

/// `n` with thousands separated by commas, as the docs write them.
pub fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// One row of the table.
pub struct Row {
    pub what: String,
    pub now: String,
    pub floor: String,
    pub ratio: String,
    pub goal: &'static str,
}

pub fn print(rows: &[Row]) {
    println!(
        "\n| what | now: median (min–max) | floor, same run | now / floor | goal |\n|---|---|---|---|---|"
    );
    for r in rows {
        println!(
            "| {} | {} | {} | {} | {} |",
            r.what, r.now, r.floor, r.ratio, r.goal
        );
    }
}
