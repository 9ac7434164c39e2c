#!/usr/bin/env bash
# Runs every cargo-fuzz target of fuzz/ for a while and says how it went.
#
#   scripts/fuzz.sh [seconds_per_target]      (default 60)
#
# Needs the nightly toolchain and cargo-fuzz (`cargo install cargo-fuzz
# --locked`). Each target runs under `nice`, with libFuzzer's memory limits
# (-rss_limit_mb=512 -malloc_limit_mb=256), from its corpus in
# fuzz/corpus/<target>/ (read, not written: new inputs go to a temporary
# folder; keep the interesting ones with `cargo +nightly fuzz cmin`).
# Prints per target the executions and crashes from libFuzzer's final
# stats; exits non-zero if any target crashed, ran out of memory or timed
# out (the reproducer is kept under fuzz/artifacts/<target>/).
# The stable replay of the corpora is `cargo nextest run -p gridsync-tests
# --test fuzz_corpus`, which CI runs.
set -euo pipefail

secs="${1:-60}"
if ! [[ "$secs" =~ ^[0-9]+$ ]] || [ "$secs" -lt 1 ]; then
    echo "usage: $0 [seconds_per_target]   (a whole number of seconds, at least 1)" >&2
    exit 2
fi
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root/fuzz"
targets=(sync_message frames records roster)
triple="$(rustc +nightly -vV | sed -n 's/^host: //p')"

echo "building the fuzz targets (nightly, address sanitizer, debug assertions)…"
nice -n 15 cargo +nightly fuzz build --debug-assertions >/dev/null

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
failed=0
printf '%-14s %12s %8s %s\n' target executions crashes result
for t in "${targets[@]}"; do
    mkdir -p "$work/$t" "artifacts/$t"
    log="$work/$t.log"
    set +e
    nice -n 15 "target/$triple/release/$t" "$work/$t" "corpus/$t" \
        -max_total_time="$secs" -rss_limit_mb=512 -malloc_limit_mb=256 -timeout=30 \
        -print_final_stats=1 -artifact_prefix="artifacts/$t/" >"$log" 2>&1
    code=$?
    set -e
    execs="$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)"
    crashes="$(grep -cE '^==[0-9]+== ?ERROR: libFuzzer|^==[0-9]+==ERROR: AddressSanitizer|^thread .* panicked' "$log" || true)"
    if [ "$code" -eq 0 ]; then
        result=ok
    else
        result="failed (exit $code; log: fuzz/artifacts/$t/last.log)"
        cp "$log" "artifacts/$t/last.log"
        failed=1
        [ "$crashes" -eq 0 ] && crashes=1
    fi
    printf '%-14s %12s %8s %s\n' "$t" "${execs:-?}" "$crashes" "$result"
done
exit "$failed"
