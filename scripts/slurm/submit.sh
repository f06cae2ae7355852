#!/usr/bin/env bash
# Submits a dynrec experiment as a Slurm job array of TASKS tasks, at most K at once, and its
# merge job after the array (afterany), and prints the two job ids as "ARRAY_ID MERGE_ID".
#
#   scripts/slurm/submit.sh [-k K] [-l LOG_DIR] [-c CPUS] [-s "SBATCH OPTIONS"] \
#       EXPERIMENT TASKS [ARGS...]
#
# EXPERIMENT is a binary name (looked up in ${CARGO_TARGET_DIR:-target}/release, built
# beforehand with `cargo build --release`) or a path to one; ARGS go to every task and to the
# merge (e.g. --budget full --out /shared/results/noise_and_data). Rerunning the same command
# resumes: complete runs are skipped, and the merge rebuilds the summaries.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
concurrency=""
logs="slurm-logs"
cpus=2
extra=""
while getopts "k:l:c:s:" opt; do
  case $opt in
    k) concurrency=$OPTARG ;;
    l) logs=$OPTARG ;;
    c) cpus=$OPTARG ;;
    s) extra=$OPTARG ;;
    *) sed -n '2,12p' "$0" >&2; exit 64 ;;
  esac
done
shift $((OPTIND - 1))
if [ $# -lt 2 ]; then
  sed -n '2,12p' "$0" >&2
  exit 64
fi
experiment=$1
tasks=$2
shift 2
case $experiment in
  */*) binary=$experiment ;;
  *) binary=${CARGO_TARGET_DIR:-$root/target}/release/$experiment ;;
esac
binary=$(cd "$(dirname "$binary")" && pwd)/$(basename "$binary")
if [ ! -x "$binary" ]; then
  echo "$binary: no such binary (cargo build --release first)" >&2
  exit 66
fi
if ! [ "$tasks" -ge 1 ] 2>/dev/null || [ "$tasks" -gt 1001 ]; then
  echo "TASKS must be 1..1001 (Slurm's default MaxArraySize is 1001)" >&2
  exit 64
fi
mkdir -p "$logs"
logs=$(cd "$logs" && pwd)
name=$(basename "$binary")
array="0-$((tasks - 1))${concurrency:+%$concurrency}"
# shellcheck disable=SC2086 # $extra is a list of sbatch options
array_id=$(sbatch --parsable $extra --job-name="$name" --array="$array" \
  --cpus-per-task="$cpus" --output="$logs/%x_%A_%a.out" \
  "$here/array.sbatch" "$binary" "$@")
array_id=${array_id%%;*}
# shellcheck disable=SC2086
merge_id=$(sbatch --parsable $extra --job-name="$name-merge" \
  --dependency="afterany:$array_id" --output="$logs/%x_%j.out" \
  "$here/merge.sbatch" "$binary" "$@")
merge_id=${merge_id%%;*}
echo "$array_id $merge_id"
