#!/usr/bin/env bash
# Benchmark this build against Pushpin 1.36, side by side, and write the
# result into the README.
#
#   benches/run.sh [scenario ...]        # default: every scenario, 3 rounds (~20 min)
#   BENCH_ROUNDS=1 BENCH_SECS=3 benches/run.sh passthru fanout1k   # quick look
#
# Builds the release binaries, runs ../shared/bench/bench.sh with A = ours and
# B = the installed Pushpin 1.36 (`apt-get install pushpin nginx-light`), so
# every ratio in the summary is ours / 1.36, and replaces the part of README.md
# between the `bench:begin` and `bench:end` markers with the summary, the
# date and the command. Every bench.sh variable (BENCH_ROUNDS, BENCH_SECS,
# BENCH_OUT, ...) passes through. Set BENCH_README=0 to leave README.md alone.
#
# Benchmarks measure; nothing here asserts a speed. Run it on a quiet machine:
# the summary notes, per scenario, how many cores other processes used.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bench=${BENCH_DIR:-$root/../shared/bench}
reference=${REFERENCE_BIN:-/usr/bin/pushpin}
if [ ! -x "$bench/bench.sh" ]; then
    echo "benches/run.sh: bench harness not found at $bench (set BENCH_DIR)" >&2
    exit 2
fi
if [ ! -x "$reference" ]; then
    echo "benches/run.sh: Pushpin 1.36 not found at $reference (apt-get install pushpin, or set REFERENCE_BIN)" >&2
    exit 2
fi

cd "$root"
cargo build --release --locked --bins

out=${BENCH_OUT:-$(mktemp -d "${TMPDIR:-/tmp}/pushpin-bench.XXXXXX")/results}
export BENCH_OUT=$out
A_BIN="$root/target/release/pushpin" A_NAME=ours A_INTERNAL="$root/config/internal.conf" \
    B_BIN="$reference" B_NAME=pushpin-1.36 \
    "$bench/bench.sh" "$@"

if [ "${BENCH_README:-1}" = 0 ]; then
    exit 0
fi
summary="$out/summary.md"
if [ ! -s "$summary" ]; then
    echo "benches/run.sh: no summary at $summary; README.md left alone" >&2
    exit 1
fi
cmd="benches/run.sh${*:+ $*}"
for v in BENCH_ROUNDS BENCH_SECS BENCH_RAMP BENCH_ORDER; do
    if [ -n "${!v:-}" ]; then
        cmd="$v=${!v} $cmd"
    fi
done
python3 - "$root/README.md" "$summary" "$cmd" <<'EOF'
import datetime, sys
readme, summary, cmd = sys.argv[1:]
text = open(readme).read()
begin, end = "<!-- bench:begin -->", "<!-- bench:end -->"
if begin not in text or end not in text:
    sys.exit("benches/run.sh: README.md lacks the bench:begin/bench:end markers")
head, rest = text.split(begin, 1)
_, tail = rest.split(end, 1)
body = open(summary).read().strip()
stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
block = (f"{begin}\nMeasured {stamp} with `{cmd}` (A = ours, B = Pushpin 1.36; "
         f"ratio = A/B).\n\n{body}\n{end}")
open(readme, "w").write(head + block + tail)
print(f"README.md: benchmark section updated from {summary}")
EOF
