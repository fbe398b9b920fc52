#!/usr/bin/env bash
# A single-node SLURM cluster on this machine (controller and node daemon on localhost), for trying
# `sim slurm` and for the integration test. Debian 12 packages, no init system needed; run as root.
#
#   scripts/slurm-local.sh install        # apt-get install slurmctld slurmd slurm-client munge
#   scripts/slurm-local.sh start          # then: export SLURM_CONF=/tmp/attnsim-slurm/slurm.conf
#   scripts/slurm-local.sh status
#   scripts/slurm-local.sh stop
#
# State, logs and the configuration live in $ATTNSIM_SLURM_DIR (default /tmp/attnsim-slurm); the
# system's /etc/slurm is not touched: clients find the cluster through SLURM_CONF.
set -euo pipefail

STATE=${ATTNSIM_SLURM_DIR:-/tmp/attnsim-slurm}
CONF=$STATE/slurm.conf
export SLURM_CONF=$CONF

need_root() { [[ $(id -u) -eq 0 ]] || { echo "slurm-local: run as root" >&2; exit 1; }; }

install() {
  need_root
  local missing=()
  for p in slurmctld slurmd slurm-client munge; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if ((${#missing[@]})); then
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
  fi
}

write_conf() {
  local cpus mem
  cpus=$(nproc)
  mem=$(free -m | awk '/^Mem:/ {print int($2 * 0.8)}')
  mkdir -p "$STATE/spool" "$STATE/state" "$STATE/log"
  cat > "$CONF" <<CONF
# Written by scripts/slurm-local.sh: one node, localhost only, fast requeue for tests.
ClusterName=attnsim
SlurmctldHost=localhost
SlurmUser=root
AuthType=auth/munge
AuthInfo=cred_expire=10
CommunicationParameters=NoCtldInAddrAny,NoInAddrAny
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerParameters=sched_interval=2,bf_interval=2
KillWait=5
MinJobAge=300
ReturnToService=2
JobRequeue=1
StateSaveLocation=$STATE/state
SlurmdSpoolDir=$STATE/spool
SlurmctldPidFile=$STATE/slurmctld.pid
SlurmdPidFile=$STATE/slurmd.pid
SlurmctldLogFile=$STATE/log/slurmctld.log
SlurmdLogFile=$STATE/log/slurmd.log
NodeName=localhost CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP
CONF
}

start_munge() {
  mkdir -p /run/munge
  chown munge:munge /run/munge
  if [[ ! -s /etc/munge/munge.key ]]; then
    dd if=/dev/urandom bs=1 count=1024 of=/etc/munge/munge.key 2>/dev/null
    chown munge:munge /etc/munge/munge.key
    chmod 400 /etc/munge/munge.key
  fi
  if ! munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then
    runuser -u munge -- /usr/sbin/munged
    for _ in $(seq 50); do munge -n 2>/dev/null | unmunge >/dev/null 2>&1 && break; sleep 0.1; done
  fi
  munge -n | unmunge >/dev/null
}

start() {
  need_root
  command -v slurmctld >/dev/null || { echo "slurm-local: SLURM is not installed; run: $0 install" >&2; exit 1; }
  write_conf
  start_munge
  if ! scontrol ping 2>/dev/null | grep -q "is UP"; then
    slurmctld -i
  fi
  [[ -f $STATE/slurmd.pid ]] && kill -0 "$(cat "$STATE/slurmd.pid")" 2>/dev/null || slurmd -N localhost
  for _ in $(seq 60); do
    state=$(sinfo -h -o %t 2>/dev/null | head -1)
    [[ $state == idle* || $state == mix* || $state == alloc* ]] && { echo "slurm-local: up ($state); export SLURM_CONF=$CONF"; return 0; }
    sleep 0.5
  done
  echo "slurm-local: node did not become idle; logs in $STATE/log" >&2
  exit 1
}

stop() {
  scancel --user=root 2>/dev/null || true
  for pidfile in "$STATE/slurmd.pid" "$STATE/slurmctld.pid"; do
    [[ -f $pidfile ]] && kill "$(cat "$pidfile")" 2>/dev/null || true
  done
  sleep 1
  pkill -x munged 2>/dev/null || true
  echo "slurm-local: stopped"
}

status() {
  scontrol ping || true
  sinfo || true
  squeue || true
}

case "${1:-}" in
  install) install ;;
  start) start ;;
  stop) stop ;;
  status) status ;;
  *) echo "usage: $0 install|start|stop|status" >&2; exit 2 ;;
esac
