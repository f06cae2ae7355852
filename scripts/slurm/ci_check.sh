#!/usr/bin/env bash
# CI check of dynrec on a real Slurm: installs Debian's slurmctld, slurmd, slurm-client and
# munge (root, or sudo), starts a one-node cluster on localhost from a temporary folder (no
# systemd), submits a smoke-budget sweep (noise_and_data, 3 runs) as a 3-task job array plus
# its merge job (afterany) through scripts/slurm/submit.sh, compares the merged result with an
# unsharded run of the same sweep, deletes one run's output and resubmits to show that only
# that run is redone, and stops every daemon it started by its PID. Prints the times of the
# install, the cluster start, the array, the merge and the resume.
#
#   scripts/slurm/ci_check.sh            (from the repository root; builds the binary if needed)
#
# Environment: CARGO_TARGET_DIR (where the release binary is), DYNREC_SLURM_BINARY (a built
# noise_and_data binary to use instead of building one), DYNREC_SLURM_TIMEOUT (seconds to wait
# for each round of jobs, default 300), DYNREC_SLURM_KEEP=1 keeps the temporary folder.
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$(pwd)
experiment=noise_and_data
wait_limit=${DYNREC_SLURM_TIMEOUT:-300}
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }
log() { echo "[slurm-check] $*"; }
fail() { echo "[slurm-check] FAILED: $*" >&2; exit 1; }

# --- install ------------------------------------------------------------------------------
sudo=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || fail "installing Slurm needs root or sudo"
  sudo="sudo"
fi
packages="slurmctld slurmd slurm-client munge"
t0=$(now)
if ! command -v slurmctld >/dev/null || ! command -v slurmd >/dev/null \
  || ! command -v sbatch >/dev/null || ! command -v munged >/dev/null; then
  export DEBIAN_FRONTEND=noninteractive
  # shellcheck disable=SC2086
  if ! $sudo apt-get install -y -q --no-install-recommends $packages >/dev/null; then
    $sudo apt-get update -q >/dev/null
    # shellcheck disable=SC2086
    $sudo apt-get install -y -q --no-install-recommends $packages >/dev/null
  fi
fi
install_s=$(since "$t0")
log "install: ${install_s} s ($(dpkg-query -W -f='${Version}' slurmctld), munge $(dpkg-query -W -f='${Version}' munge))"

# --- the binary -------------------------------------------------------------------------------
# The binary the test command just built (same features: no rebuild), unless a source is newer.
if [ -n "${DYNREC_SLURM_BINARY:-}" ]; then
  binary=$DYNREC_SLURM_BINARY
else
  binary="${CARGO_TARGET_DIR:-$root/target}/release/$experiment"
  if [ ! -x "$binary" ] || [ -n "$(find crates experiments Cargo.toml Cargo.lock -type f \
    -newer "$binary" -print -quit)" ]; then
    cargo build --release --quiet --bin "$experiment"
  fi
fi
[ -x "$binary" ] || fail "no $binary"

# --- a one-node cluster in a temporary folder ---------------------------------------------------
tmp=$(mktemp -d /tmp/dynrec-slurm.XXXXXX)
chmod 755 "$tmp"
pids=()
# PIDs of processes (other than this script's) whose environment names this cluster's config.
leftovers() {
  local p environ
  for p in /proc/[0-9]*; do
    case ${p#/proc/} in "$$" | "$BASHPID") continue ;; esac
    environ=$({ tr '\0' '\n' <"$p/environ"; } 2>/dev/null) || continue
    if grep -qxF "SLURM_CONF=$tmp/slurm.conf" <<<"$environ"; then
      echo "${p#/proc/}"
    fi
  done
  return 0
}
stop() {
  local status=$?
  # Jobs still queued or running (a failed check) are cancelled on this private cluster first.
  if [ -S "$tmp/munge.socket" ] && squeue -h -o %i 2>/dev/null | grep -q .; then
    scancel -u "$(id -un)" 2>/dev/null || true
    for _ in $(seq 50); do
      squeue -h -o %i 2>/dev/null | grep -q . || break
      sleep 0.1
    done
  fi
  # Job steps (slurmstepd, one per running step, a socket each in the spool folder) end with
  # their jobs; give any that are still finishing a moment before their slurmd goes.
  for _ in $(seq 100); do
    [ -z "$(find "$tmp/spool" -type s 2>/dev/null)" ] && break
    sleep 0.1
  done
  for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
    kill "${pids[i]}" 2>/dev/null || true
  done
  for pid in "${pids[@]}"; do
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
  done
  # Whatever else the cluster started (job steps, job scripts) carries this cluster's
  # SLURM_CONF in its environment: wait for it to end, then stop what is left by PID.
  for _ in $(seq 50); do
    [ -z "$(leftovers)" ] && break
    sleep 0.1
  done
  local left
  left=$(leftovers)
  left=$(echo $left) # one line
  for pid in $left; do
    kill -9 "$pid" 2>/dev/null || true
  done
  log "stopped munged, slurmctld and slurmd (PIDs ${pids[*]})${left:+; killed leftovers $left}"
  if [ $status -ne 0 ]; then
    for f in "$tmp"/*.log "$tmp"/logs/*.out; do
      [ -f "$f" ] && { echo "--- $f"; tail -n 30 "$f"; }
    done
  fi
  if [ "${DYNREC_SLURM_KEEP:-0}" = 1 ]; then
    log "kept $tmp"
  else
    rm -rf "$tmp" 2>/dev/null || { sleep 1; rm -rf "$tmp"; } || true
  fi
  exit $status
}
trap stop EXIT

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
ctld_port=$(free_port)
slurmd_port=$(free_port)
while [ "$slurmd_port" = "$ctld_port" ]; do slurmd_port=$(free_port); done
mkdir -p "$tmp/state" "$tmp/spool" "$tmp/logs"
cpus=2
cat >"$tmp/slurm.conf" <<CONF
ClusterName=dynrec-ci
SlurmctldHost=localhost
SlurmctldPort=$ctld_port
SlurmdPort=$slurmd_port
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket=$tmp/munge.socket
CredType=cred/munge
StateSaveLocation=$tmp/state
SlurmdSpoolDir=$tmp/spool
SlurmctldPidFile=$tmp/slurmctld.pid
SlurmdPidFile=$tmp/slurmd.pid
SlurmctldLogFile=$tmp/slurmctld.log
SlurmdLogFile=$tmp/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MpiDefault=none
SchedulerType=sched/backfill
SchedulerParameters=batch_sched_delay=0
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SlurmdParameters=config_overrides
ReturnToService=2
MinJobAge=600
NodeName=localhost NodeAddr=127.0.0.1 CPUs=$cpus State=UNKNOWN
PartitionName=ci Nodes=localhost Default=YES MaxTime=INFINITE State=UP
CONF
export SLURM_CONF="$tmp/slurm.conf"

t0=$(now)
mungekey --create --keyfile="$tmp/munge.key" 2>/dev/null \
  || head -c 1024 /dev/urandom >"$tmp/munge.key"
chmod 600 "$tmp/munge.key"
munged --foreground --force --socket="$tmp/munge.socket" --key-file="$tmp/munge.key" \
  --pid-file="$tmp/munged.pid" --log-file="$tmp/munged.log" --seed-file="$tmp/munged.seed" \
  >"$tmp/munged.out" 2>&1 &
pids+=($!)
for _ in $(seq 100); do [ -S "$tmp/munge.socket" ] && break; sleep 0.05; done
[ -S "$tmp/munge.socket" ] || fail "munged did not start (see $tmp/munged.log)"
slurmctld -D -c -f "$SLURM_CONF" >"$tmp/slurmctld.out" 2>&1 &
pids+=($!)
slurmd -D -N localhost -f "$SLURM_CONF" >"$tmp/slurmd.out" 2>&1 &
pids+=($!)
state=""
for _ in $(seq 300); do
  state=$(sinfo -h -n localhost -o %T 2>/dev/null || true)
  case $state in idle | mixed | allocated) break ;; esac
  sleep 0.1
done
case $state in
  idle | mixed | allocated) ;;
  *) fail "the node did not come up (state '$state')" ;;
esac
start_s=$(since "$t0")
log "cluster start (munged, slurmctld, slurmd; node idle): ${start_s} s"

# --- the unsharded reference, outside Slurm -------------------------------------------------
t0=$(now)
"$binary" --budget smoke --quiet --out "$tmp/unsharded" >"$tmp/unsharded.log"
log "unsharded run (local): $(since "$t0") s"

# Waits until `squeue` no longer lists job $1; fails after $wait_limit seconds.
wait_for() {
  local start
  start=$(now)
  while squeue -h -j "$1" 2>/dev/null | grep -q .; do
    if awk -v s="$start" -v n="$(now)" -v l="$wait_limit" 'BEGIN { exit !(n - s > l) }'; then
      squeue || true
      fail "job $1 still queued after $wait_limit s"
    fi
    sleep 0.2
  done
}
# The state and exit code Slurm recorded for job $1.
job_state() {
  scontrol show job "$1" | tr ' ' '\n' | grep -E '^(JobState|ExitCode)=' | tr '\n' ' '
}
# Submits the array and the merge, waits for both and prints the times; $1 names the round.
round() {
  local t0 ids array_id merge_id array_s merge_s
  t0=$(now)
  ids=$(scripts/slurm/submit.sh -k "$cpus" -c 1 -l "$tmp/logs" -s "--partition=ci" \
    "$binary" 3 --budget smoke --out "$tmp/sharded")
  read -r array_id merge_id <<<"$ids"
  wait_for "$array_id"
  array_s=$(since "$t0")
  t0=$(now)
  wait_for "$merge_id"
  merge_s=$(since "$t0")
  log "$1: array $array_id (3 tasks) done ${array_s} s after submission; merge $merge_id ${merge_s} s later"
  for task in 0 1 2; do
    log "  task $task: $(job_state "${array_id}_$task")"
  done
  log "  merge: $(job_state "$merge_id")"
  scontrol show job "$merge_id" | grep -q 'JobState=COMPLETED' \
    || fail "the merge job did not complete ($(job_state "$merge_id"))"
  round_array=$array_id
}

# --- the array and the merge ---------------------------------------------------------------
round "first round"
first_array=$round_array
python3 scripts/slurm/compare.py "$tmp/unsharded" "$tmp/sharded"

# --- resume: one run's output deleted, the same submission again ---------------------------
victim=$(find "$tmp/sharded" -mindepth 1 -maxdepth 1 -type d ! -name '.*' | sort | head -n 1)
rm -rf "$victim"
log "deleted $(basename "$victim")"
round "resume round"
ran=0
skipped=0
for f in "$tmp"/logs/*_"${round_array}"_*.out; do
  line=$(grep -E "^$experiment: ran [0-9]+, skipped [0-9]+" "$f") || fail "no summary line in $f"
  r=$(sed -E 's/.* ran ([0-9]+), skipped ([0-9]+).*/\1/' <<<"$line")
  s=$(sed -E 's/.* ran ([0-9]+), skipped ([0-9]+).*/\2/' <<<"$line")
  ran=$((ran + r))
  skipped=$((skipped + s))
done
log "resume: ran $ran, skipped $skipped (complete) over the 3 tasks"
[ "$ran" -eq 1 ] && [ "$skipped" -eq 2 ] || fail "expected 1 run redone and 2 skipped"
grep -q "$(basename "$victim"): done" "$tmp"/logs/*_"${round_array}"_*.out \
  || fail "the deleted run was not the one redone"
python3 scripts/slurm/compare.py "$tmp/unsharded" "$tmp/sharded"
[ "$first_array" != "$round_array" ] || fail "the resume round reused the first array's id"
log "passed: install ${install_s} s, cluster start ${start_s} s"
