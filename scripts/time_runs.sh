#!/usr/bin/env bash
# Whole-run timings in one sitting (issue 12): every experiment binary at full budget, and
# `dynrec fit --budget quick` on one long series with gaps (2,000 rows, 3% of the measurements
# missing, predictor mode, hidden 3). Prints a Markdown table; the runs write into a temporary
# folder, never into results/.
#
#   scripts/time_runs.sh            # builds release first
#   BIN=path/to/release scripts/time_runs.sh
#   JOBS=1 scripts/time_runs.sh     # the experiments' --jobs (default: all cores)
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -z "${BIN:-}" ]; then
  cargo build --release --workspace --bins --quiet
  BIN="${CARGO_TARGET_DIR:-target}/release"
fi
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
seconds() { local s; s=$(date +%s.%N); "$@" > /dev/null 2>&1; echo "$(date +%s.%N) - $s" | bc; }

echo "| run | seconds |"
echo "|---|---:|"
total=0
for e in rotation predictor hidden_size noise_and_data kalman_vs_rnn tanh pendulum lorenz hopf; do
  t=$(seconds "$BIN/$e" --quiet --out "$out/$e" ${JOBS:+--jobs "$JOBS"})
  total=$(echo "$total + $t" | bc)
  printf '| %s | %.1f |\n' "$e" "$t"
done
printf '| **all experiments** | **%.1f** |\n' "$total"

# One long series with gaps: a trend-like root beside a slow, lightly damped pair.
cat > "$out/long.toml" <<'TOML'
A = [[0.999, 0.0, 0.0], [0.0, 0.9872, -0.1245], [0.0, 0.1245, 0.9872]]
H = [[1.0, 1.0, 0.0]]
Q = [[1e-4, 0.0, 0.0], [0.0, 1e-3, 0.0], [0.0, 0.0, 1e-3]]
R = [[1e-3]]
TOML
"$BIN/dynrec" simulate --system "$out/long.toml" --steps 2000 --missing 0.03 --seed 1 \
  --out "$out/long.csv" > /dev/null
t=$(seconds "$BIN/dynrec" fit --data "$out/long.csv" --out "$out/fit" --hidden 3 --seed 1 \
  --budget quick)
printf '| dynrec fit --budget quick --hidden 3, 2,000 rows, 3%% missing | %.1f |\n' "$t"
echo
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg); $(nproc) cores; --jobs ${JOBS:-all cores}; $(date -u '+%Y-%m-%d %H:%M UTC')"
