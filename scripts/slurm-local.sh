#!/usr/bin/env bash
# Bring up / tear down a real single-node Slurm cluster on this machine (Debian 12, root, no systemd).
# Meant for CI and for developers who want to exercise `snakemake --executor slurm` locally.
#
#   scripts/slurm-local.sh up     [BASE]   start munged (if needed), slurmctld and slurmd; wait until the node is idle
#   scripts/slurm-local.sh down   [BASE]   cancel all jobs, stop the daemons started by `up`
#   scripts/slurm-local.sh status [BASE]   exit 0 and print sinfo if the cluster is up, else exit 1
#
# BASE defaults to /tmp/genotile-slurm and holds etc/ (slurm.conf, gres.conf), run/ (pid files),
# spool/ and log/. Nothing is written to /etc/slurm: slurmd runs in configless mode
# (`slurmd --conf-server HOST:6817`), fetches the config into BASE/spool/d/conf-cache and links
# /run/slurm/conf to it, so sinfo/sbatch/srun (also inside jobs) work without SLURM_CONF.
#
# Environment:
#   SLURM_LOCAL_CPUS     CPUs advertised by the node (default 16; may exceed nproc: config_overrides)
#   SLURM_LOCAL_MEM_MB   RealMemory of the node in MB (default 16000)
#
# The node has one fake GPU (gres.conf File=/dev/null), so `resources: gpu=1` -> `sbatch --gpus=1` works
# and jobs see CUDA_VISIBLE_DEVICES=0. No slurmdbd: sacct does not work, so Snakemake's slurm executor
# needs `--slurm-status-command squeue` (MinJobAge=3600 keeps finished jobs visible to squeue and to
# `scontrol show job` for an hour: the tests read every job of a run back). Verified:
#   snakemake --executor slurm --jobs 4 --default-resources slurm_partition=debug mem_mb=500 runtime=5 \
#     --slurm-status-command squeue --slurm-no-account --slurm-init-seconds-before-status-checks 1 --latency-wait 5
#
# Exit codes: 0 ok; 1 failure (log tails printed); 2 usage; 3 skipped (not root, or packages unavailable).
set -euo pipefail

export PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin"

SCRIPT_NAME="slurm-local"
CTLD_PORT=6817
UP_TIMEOUT=30

log() { printf '%s: %s\n' "$SCRIPT_NAME" "$*"; }
err() { printf '%s: %s\n' "$SCRIPT_NAME" "$*" >&2; }
now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

usage() {
  cat >&2 <<EOF
usage: $0 {up|down|status} [BASE]
  BASE defaults to /tmp/genotile-slurm
  env: SLURM_LOCAL_CPUS (default 16), SLURM_LOCAL_MEM_MB (default 16000)
EOF
  exit 2
}

# --- pid helpers ---------------------------------------------------------------------------------

# Print the pid stored in file $1 if that process is alive and its command name is $2.
live_pid() {
  local file=$1 name=$2 pid comm
  [[ -s $file ]] || return 1
  pid=$(tr -dc '0-9' <"$file")
  [[ -n $pid ]] || return 1
  [[ -r /proc/$pid/comm ]] || return 1
  comm=$(cat "/proc/$pid/comm" 2>/dev/null) || return 1
  [[ $comm == "$name" ]] || return 1
  echo "$pid"
}

# Wait up to $2 seconds for pid $1 to exit.
wait_gone() {
  local pid=$1 timeout=$2 i
  for ((i = 0; i < timeout * 10; i++)); do
    kill -0 "$pid" 2>/dev/null || return 0
    sleep 0.1
  done
  return 1
}

# Send SIGTERM to every "pid:name" argument at once (each daemon takes ~2 s to exit), wait up to
# 15 s, then SIGKILL what is left.
stop_pids() {
  local item pid name
  for item in "$@"; do
    kill -TERM "${item%%:*}" 2>/dev/null || true
  done
  for item in "$@"; do
    pid=${item%%:*} name=${item#*:}
    if ! wait_gone "$pid" 15; then
      err "$name (pid $pid) did not exit after SIGTERM; sending SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
      wait_gone "$pid" 5 || err "$name (pid $pid) is still alive"
    fi
  done
}

# --- setup steps ---------------------------------------------------------------------------------

need_root() {
  if [[ $(id -u) -ne 0 ]]; then
    err "skipped: needs root (munged, slurmctld and slurmd are started by hand; uid=$(id -u))"
    exit 3
  fi
}

have_binaries() {
  local b
  for b in slurmctld slurmd munged munge unmunge sinfo scontrol squeue scancel srun sbatch; do
    command -v "$b" >/dev/null 2>&1 || return 1
  done
}

ensure_packages() {
  have_binaries && return 0
  local pkgs=(slurmctld slurmd slurm-client munge)
  log "installing ${pkgs[*]} from Debian packages"
  if ! command -v apt-get >/dev/null 2>&1; then
    err "skipped: could not install slurm/munge from Debian packages (no apt-get)"
    exit 3
  fi
  export DEBIAN_FRONTEND=noninteractive
  if ! apt-get install -y --no-install-recommends "${pkgs[@]}" >"$BASE/log/apt.log" 2>&1; then
    if ! { apt-get update && apt-get install -y --no-install-recommends "${pkgs[@]}"; } >>"$BASE/log/apt.log" 2>&1; then
      tail -n 20 "$BASE/log/apt.log" >&2 || true
      err "skipped: could not install slurm/munge from Debian packages"
      exit 3
    fi
  fi
  if ! have_binaries; then
    err "skipped: could not install slurm/munge from Debian packages (binaries still missing)"
    exit 3
  fi
}

munge_ok() { munge -n 2>/dev/null | unmunge >/dev/null 2>&1; }

start_munge() {
  local pid i started=0
  if pid=$(live_pid /run/munge/munged.pid munged || pgrep -x munged | head -n 1) && [[ -n $pid ]]; then
    # Keep an earlier "1" if this script started it in a previous, partly failed `up`.
    [[ -s $BASE/run/munge.started-by-us ]] || echo 0 >"$BASE/run/munge.started-by-us"
    log "munged already running (pid $pid); reusing it"
  else
    if [[ ! -s /etc/munge/munge.key ]]; then
      log "creating /etc/munge/munge.key"
      if command -v mungekey >/dev/null 2>&1; then
        mungekey --create --keyfile=/etc/munge/munge.key
      else
        dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 status=none
      fi
      chown munge:munge /etc/munge/munge.key
      chmod 400 /etc/munge/munge.key
    fi
    mkdir -p /run/munge
    chown munge:munge /run/munge
    chmod 755 /run/munge
    # --force: remove a stale socket/pid file left by a munged that was killed (none is running now).
    if ! su -s /bin/sh munge -c '/usr/sbin/munged --force' >"$BASE/log/munged.start.log" 2>&1; then
      cat "$BASE/log/munged.start.log" >&2 || true
      err "could not start munged"
      return 1
    fi
    echo 1 >"$BASE/run/munge.started-by-us"
    started=1
  fi
  for ((i = 0; i < 50; i++)); do
    munge_ok && break
    sleep 0.1
  done
  if ! munge_ok; then
    err "munge -n | unmunge fails"
    munge -n | unmunge >&2 || true
    return 1
  fi
  if [[ $started == 1 ]]; then
    # munged forks into the background; its pid file names the daemon, not the parent that exited.
    pid=$(live_pid /run/munge/munged.pid munged || pgrep -x munged | head -n 1 || true)
    [[ -n $pid ]] && echo "$pid" >"$BASE/run/munged.pid"
    log "started munged (pid ${pid:-?})"
  fi
}

write_config() {
  local host=$1 cpus=$2 mem=$3 node_addr=$4 ctld_host=$5
  cat >"$BASE/etc/slurm.conf" <<EOF
# Written by scripts/slurm-local.sh (single-node test cluster; configless mode).
ClusterName=local
SlurmctldHost=$ctld_host
SlurmctldPort=$CTLD_PORT
SlurmctldParameters=enable_configless
SlurmdParameters=config_overrides
SlurmUser=root
AuthType=auth/munge
CredType=cred/munge
MpiDefault=none
MailProg=/bin/true
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/linux
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
# Without a default, a job that gives no --mem is allocated the whole node's memory and runs alone.
DefMemPerCPU=$((mem / cpus > 0 ? mem / cpus : 1))
SchedulerType=sched/backfill
ReturnToService=2
# Keep finished jobs visible to squeue for 300 s: Snakemake's slurm executor polls with squeue
# (no slurmdbd here) and backs off to at most 180 s between polls.
MinJobAge=3600
KillWait=5
SlurmctldPidFile=$BASE/run/slurmctld.pid
SlurmdPidFile=$BASE/run/slurmd.pid
StateSaveLocation=$BASE/spool/ctld
SlurmdSpoolDir=$BASE/spool/d
SlurmctldLogFile=$BASE/log/slurmctld.log
SlurmdLogFile=$BASE/log/slurmd.log
GresTypes=gpu
NodeName=$host${node_addr:+ NodeAddr=$node_addr} CPUs=$cpus RealMemory=$mem Gres=gpu:1 State=UNKNOWN
PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE State=UP
EOF
  # Fake GPU: without File= slurmd reports 0 GPUs and the node drains ("gres/gpu count reported lower").
  cat >"$BASE/etc/gres.conf" <<EOF
NodeName=$host Name=gpu File=/dev/null
EOF
}

print_logs() {
  local f
  for f in "$BASE/log/slurmctld.log" "$BASE/log/slurmd.log" "$BASE/log/slurmctld.out" "$BASE/log/slurmd.out"; do
    if [[ -s $f ]]; then
      printf '%s: --- tail of %s ---\n' "$SCRIPT_NAME" "$f" >&2
      tail -n 25 "$f" >&2 || true
    fi
  done
}

# wait_for ctld|node: poll until slurmctld answers ping / the node is idle. Gives up after
# UP_TIMEOUT seconds of wall time, or after 2 s if the daemon's process is gone (e.g. port in use).
NODE_STATE=""
wait_for() {
  local what=$1 daemon deadline start
  [[ $what == ctld ]] && daemon=slurmctld || daemon=slurmd
  start=$SECONDS
  deadline=$((SECONDS + UP_TIMEOUT))
  while ((SECONDS < deadline)); do
    if [[ $what == ctld ]]; then
      timeout 5 env SLURM_CONF="$BASE/etc/slurm.conf" scontrol ping 2>/dev/null | grep -q 'is UP' && return 0
    else
      NODE_STATE=$(timeout 5 env SLURM_CONF="$BASE/etc/slurm.conf" sinfo -h -o %t 2>/dev/null | head -n 1 || true)
      [[ $NODE_STATE == idle ]] && return 0
    fi
    if ((SECONDS - start >= 2)) && ! live_pid "$BASE/run/$daemon.pid" "$daemon" >/dev/null; then
      err "$daemon is not running"
      return 1
    fi
    sleep 0.2
  done
  return 1
}

fail_up() {
  err "$*"
  print_logs
  err "tearing down what was started"
  do_down >&2 || true
  exit 1
}

do_up() {
  local t0 host cpus mem node_addr ctld_host conf_server pid ctld_pid slurmd_pid
  need_root
  t0=$(now)
  mkdir -p "$BASE/etc" "$BASE/run" "$BASE/spool/ctld" "$BASE/spool/d" "$BASE/log"

  if ctld_pid=$(live_pid "$BASE/run/slurmctld.pid" slurmctld) &&
    slurmd_pid=$(live_pid "$BASE/run/slurmd.pid" slurmd); then
    log "already up (slurmctld pid $ctld_pid, slurmd pid $slurmd_pid; BASE=$BASE)"
    sinfo 2>/dev/null || SLURM_CONF=$BASE/etc/slurm.conf sinfo || true
    exit 0
  fi
  # Half up (one daemon died): clean up before starting again.
  if live_pid "$BASE/run/slurmctld.pid" slurmctld >/dev/null || live_pid "$BASE/run/slurmd.pid" slurmd >/dev/null; then
    log "cluster in $BASE is only partly up; restarting it"
    do_down
  fi
  # Another cluster's daemons would hold the ports.
  if pid=$(pgrep -x slurmctld | head -n 1) && [[ -n $pid ]]; then
    err "another slurmctld (pid $pid) is running, not started from $BASE; stop it first"
    exit 1
  fi
  if pid=$(pgrep -x slurmd | head -n 1) && [[ -n $pid ]]; then
    err "another slurmd (pid $pid) is running, not started from $BASE; stop it first"
    exit 1
  fi

  ensure_packages
  if [[ -e /etc/slurm/slurm.conf ]]; then
    err "warning: /etc/slurm/slurm.conf exists; client commands will read it instead of the configless config"
  fi

  host=$(hostname -s)
  cpus=${SLURM_LOCAL_CPUS:-16}
  mem=${SLURM_LOCAL_MEM_MB:-16000}
  [[ $cpus =~ ^[1-9][0-9]*$ ]] || { err "SLURM_LOCAL_CPUS must be a positive integer (got '$cpus')"; exit 2; }
  [[ $mem =~ ^[1-9][0-9]*$ ]] || { err "SLURM_LOCAL_MEM_MB must be a positive integer (got '$mem')"; exit 2; }
  # If the short hostname does not resolve, talk over 127.0.0.1.
  if getent hosts "$host" >/dev/null 2>&1; then
    node_addr="" ctld_host=$host conf_server="$host:$CTLD_PORT"
  else
    node_addr=127.0.0.1 ctld_host="$host(127.0.0.1)" conf_server="127.0.0.1:$CTLD_PORT"
    log "hostname '$host' does not resolve; using 127.0.0.1"
  fi

  start_munge || fail_up "munge is not working"
  write_config "$host" "$cpus" "$mem" "$node_addr" "$ctld_host"
  rm -f "$BASE/run/slurmctld.pid" "$BASE/run/slurmd.pid"

  # -c: start from a clean state (no jobs or node states remembered from an earlier run).
  if ! slurmctld -c -f "$BASE/etc/slurm.conf" >"$BASE/log/slurmctld.out" 2>&1; then
    fail_up "slurmctld failed to start"
  fi
  wait_for ctld || fail_up "slurmctld did not come up ('scontrol ping', limit ${UP_TIMEOUT} s)"

  if ! slurmd -N "$host" --conf-server "$conf_server" >"$BASE/log/slurmd.out" 2>&1; then
    fail_up "slurmd failed to start"
  fi
  wait_for node || fail_up "node did not become idle (limit ${UP_TIMEOUT} s; state: '${NODE_STATE:-none}')"
  if ! sinfo -h >/dev/null 2>&1; then
    fail_up "sinfo without SLURM_CONF fails (configless /run/slurm/conf not set up?)"
  fi

  log "up in $(elapsed "$t0") s (host $host, $cpus CPUs, ${mem} MB, gpu:1 fake; BASE=$BASE)"
  sinfo
}

do_down() {
  local t0 pid name jobs i link target
  t0=$(now)
  # Cancel all jobs while the controller is still up.
  if live_pid "$BASE/run/slurmctld.pid" slurmctld >/dev/null; then
    jobs=$(SLURM_CONF=$BASE/etc/slurm.conf squeue -h -o %A 2>/dev/null || true)
    if [[ -n $jobs ]]; then
      log "cancelling jobs: $(echo "$jobs" | tr '\n' ' ')"
      # shellcheck disable=SC2086
      SLURM_CONF=$BASE/etc/slurm.conf scancel $jobs 2>/dev/null || true
      for ((i = 0; i < 100; i++)); do
        [[ -z $(SLURM_CONF=$BASE/etc/slurm.conf squeue -h -t PD,R,CG,CF,S -o %A 2>/dev/null || true) ]] && break
        sleep 0.1
      done
    fi
  fi
  local -a victims=()
  for name in slurmd slurmctld; do
    if pid=$(live_pid "$BASE/run/$name.pid" "$name"); then
      log "stopping $name (pid $pid)"
      victims+=("$pid:$name")
    fi
  done
  if [[ -s $BASE/run/munge.started-by-us && $(cat "$BASE/run/munge.started-by-us") == 1 ]]; then
    pid=$(live_pid "$BASE/run/munged.pid" munged || live_pid /run/munge/munged.pid munged || true)
    if [[ -n $pid ]]; then
      log "stopping munged (pid $pid; started by slurm-local up)"
      victims+=("$pid:munged")
    fi
  fi
  [[ ${#victims[@]} -eq 0 ]] || stop_pids "${victims[@]}"
  rm -f "$BASE/run/slurmd.pid" "$BASE/run/slurmctld.pid" "$BASE/run/munge.started-by-us" "$BASE/run/munged.pid"
  # Configless slurmd links /run/slurm/conf to its conf-cache; remove the link if it is ours (or dangling).
  link=/run/slurm/conf
  if [[ -L $link ]]; then
    target=$(readlink "$link" || true)
    if [[ $target == "$BASE"/* || ! -e $link ]]; then
      rm -f "$link" || true
      rmdir /run/slurm 2>/dev/null || true
    fi
  fi
  if pgrep -x slurmstepd >/dev/null 2>&1; then
    err "warning: slurmstepd processes still running: $(pgrep -x slurmstepd | tr '\n' ' ')"
  fi
  log "down in $(elapsed "$t0") s"
}

do_status() {
  local ctld_pid slurmd_pid
  if ctld_pid=$(live_pid "$BASE/run/slurmctld.pid" slurmctld) &&
    slurmd_pid=$(live_pid "$BASE/run/slurmd.pid" slurmd) &&
    sinfo 2>/dev/null; then
    log "up (slurmctld pid $ctld_pid, slurmd pid $slurmd_pid; BASE=$BASE)"
    return 0
  fi
  log "not up (BASE=$BASE)"
  return 1
}

[[ $# -ge 1 && $# -le 2 ]] || usage
cmd=$1
BASE=${2:-/tmp/genotile-slurm}
[[ $BASE == /* ]] || BASE="$PWD/$BASE"
BASE=${BASE%/}

case $cmd in
  up) do_up ;;
  down)
    do_down
    exit 0
    ;;
  status) do_status ;;
  -h | --help | help) usage ;;
  *) usage ;;
esac
