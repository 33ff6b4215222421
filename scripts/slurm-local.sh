#!/usr/bin/env bash
# A one-node Slurm cluster on this machine, for tests of cluster submission (root only).
#   scripts/slurm-local.sh start    write /etc/slurm/slurm.conf if absent, start munged, slurmctld, slurmd
#   scripts/slurm-local.sh stop     stop slurmctld, slurmd and munged
#   scripts/slurm-local.sh status   exit 0 when the controller answers and the node is idle or mixed
# Idempotent: start on a running cluster and stop on a stopped one do nothing. Liveness is checked by
# function (munge round trip, scontrol ping), never by process name: a zombie munged would match.
set -euo pipefail

CONF=${SLURM_CONF:-/etc/slurm/slurm.conf}
CPUS=$(nproc)
MEM_MB=$(( $(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1024 / 2 ))

munge_ok() { munge -n 2>/dev/null | unmunge 2>/dev/null | grep -q 'STATUS:.*Success'; }
ctld_ok() { scontrol ping 2>/dev/null | grep -q 'is UP'; }
node_ok() { sinfo -h -N -o '%T' 2>/dev/null | grep -qE '^(idle|mixed|allocated|completing)'; }

need_root() {
  if [ "$(id -u)" -ne 0 ]; then echo "slurm-local: must run as root" >&2; exit 3; fi
  for exe in munged slurmctld slurmd scontrol sbatch; do
    command -v "$exe" >/dev/null 2>&1 || [ -x "/usr/sbin/$exe" ] || {
      echo "slurm-local: $exe not installed (run scripts/setup-cluster.sh)" >&2; exit 3; }
  done
}

write_conf() {
  [ -s "$CONF" ] && return 0
  mkdir -p "$(dirname "$CONF")"
  cat > "$CONF" <<CONF
# written by phyneo-flows scripts/slurm-local.sh: a one-node cluster for tests
ClusterName=local
SlurmctldHost=localhost
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
MpiDefault=none
MailProg=/bin/true
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/backfill
ReturnToService=2
StateSaveLocation=/var/spool/slurmctld
SlurmdSpoolDir=/var/spool/slurmd
SlurmctldPidFile=/run/slurmctld.pid
SlurmdPidFile=/run/slurmd.pid
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd.log
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/filetxt
JobCompLoc=/var/log/slurm/jobcomp.log
MinJobAge=300
NodeName=localhost NodeAddr=127.0.0.1 CPUs=${CPUS} RealMemory=${MEM_MB} State=UNKNOWN
PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP
CONF
}

start() {
  need_root
  write_conf
  [ -s /etc/munge/munge.key ] || dd if=/dev/urandom of=/etc/munge/munge.key bs=1 count=1024 status=none
  chown munge:munge /etc/munge /etc/munge/munge.key
  chmod 700 /etc/munge
  chmod 400 /etc/munge/munge.key
  mkdir -p /run/munge /var/log/munge /var/lib/munge /var/spool/slurmctld /var/spool/slurmd /var/log/slurm
  chown munge:munge /run/munge /var/log/munge /var/lib/munge
  if ! munge_ok; then
    rm -f /run/munge/munge.socket.2 /run/munge/munged.pid
    runuser -u munge -- /usr/sbin/munged
  fi
  for _ in $(seq 40); do munge_ok && break; sleep 0.25; done
  munge_ok || { echo "slurm-local: munged did not start (see /var/log/munge)" >&2; exit 1; }
  ctld_ok || /usr/sbin/slurmctld
  for _ in $(seq 40); do ctld_ok && break; sleep 0.25; done
  ctld_ok || { echo "slurm-local: slurmctld did not start (see /var/log/slurm)" >&2; exit 1; }
  scontrol show slurmd >/dev/null 2>&1 || /usr/sbin/slurmd -N localhost
  for _ in $(seq 60); do node_ok && break; sleep 0.25; done
  if ! node_ok; then  # a node left DOWN/DRAIN by an earlier unclean stop
    scontrol update NodeName=localhost State=RESUME 2>/dev/null || true
    for _ in $(seq 20); do node_ok && break; sleep 0.25; done
  fi
  node_ok || { echo "slurm-local: node localhost is not up: $(sinfo -h -N -o '%T %E')" >&2; exit 1; }
  echo "slurm-local: up ($(sinfo -h -o '%P %D nodes %c cpus %T' | head -1))"
}

stop() {
  if ctld_ok; then
    scontrol shutdown >/dev/null 2>&1 || true
    for _ in $(seq 40); do ctld_ok || break; sleep 0.25; done
  fi
  for pidfile in /run/slurmd.pid /run/slurmctld.pid; do
    if [ -s "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then kill "$(cat "$pidfile")" || true; fi
  done
  if [ -s /run/munge/munged.pid ] && kill -0 "$(cat /run/munge/munged.pid)" 2>/dev/null; then
    kill "$(cat /run/munge/munged.pid)" || true
  fi
  echo "slurm-local: stopped"
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) ctld_ok && node_ok ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 64 ;;
esac
