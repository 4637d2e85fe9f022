#!/usr/bin/env bash
# Start a single-node SLURM cluster on this machine, for tests/test_slurm.py and CI.
#
#   bash tests/slurm/start-local-slurm.sh [--no-accounting]
#   bash tests/slurm/stop-local-slurm.sh [--purge-state]
#
# Made for Debian 12 running as root without systemd (containers, CI VMs). Idempotent: installs
# only missing packages (apt-get), rewrites the configs, and starts only the daemons that are not
# already running: munged, mariadbd + slurmdbd (accounting), slurmctld, slurmd. Each daemon is
# tracked by its pid file, which stop-local-slurm.sh uses. Then waits for the node to be idle
# and runs `srun hostname`.
#
# Accounting (MariaDB + slurmdbd, cluster `localci`, account `test`, user root) is on by default,
# so snakemake-executor-plugin-slurm runs its default code path (status checks with sacct,
# account validation). With --no-accounting (or SLURM_ACCOUNTING=0) run Snakemake with
# `--slurm-status-command squeue`, or it waits for ever (sacct fails without slurmdbd).
#
# The cluster: partition `debug` (default), one node named `hostname -s` at 127.0.0.1 with the
# CPUs `slurmd -C` reports and 85 % of its memory. Jobs run as root. Logs: /var/log/slurm/.
set -euo pipefail

ACCOUNTING=${SLURM_ACCOUNTING:-1}
for arg in "$@"; do
    case $arg in
        --no-accounting) ACCOUNTING=0 ;;
        -h | --help)
            sed -n '2,19p' "$0" | sed 's/^# \{0,1\}//'
            exit 0
            ;;
        *)
            echo "start-local-slurm: unknown option '$arg' (try --help)" >&2
            exit 2
            ;;
    esac
done

CLUSTER=localci
ACCOUNT=test
PARTITION=debug
DB_NAME=slurm_acct_db
DB_USER=slurm
DB_PASS=slurmdbpw
LOG_DIR=/var/log/slurm
CONF_DIR=/etc/slurm

MUNGE_PID=/run/munge/munged.pid
MARIADB_PID=/run/mysqld/mysqld.pid
SLURMDBD_PID=/run/slurmdbd.pid
SLURMCTLD_PID=/run/slurmctld.pid
SLURMD_PID=/run/slurmd.pid

START=$EPOCHREALTIME
LAST=$START

elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }
# step MESSAGE: print MESSAGE with the time since the previous step and since the start
step() {
    local now=$EPOCHREALTIME
    printf 'start-local-slurm: %-55s %6ss  (total %ss)\n' "$*" "$(elapsed "$LAST" "$now")" \
        "$(elapsed "$START" "$now")"
    LAST=$now
}
die() {
    echo "start-local-slurm: ERROR: $*" >&2
    exit 1
}
# show_log FILE: the end of a daemon's log, for error messages
show_log() { [[ -r $1 ]] && { echo "--- last lines of $1:" >&2; tail -n 25 "$1" >&2; } || true; }

# alive PID NAME: the process exists, is not a zombie (PID 1 here reaps orphans only after ~2 s)
# and is called NAME (guards against a stale pid file whose pid was reused)
alive() {
    local pid=$1 name=$2 stat state
    [[ $pid =~ ^[0-9]+$ ]] || return 1
    stat=$(cat "/proc/$pid/stat" 2>/dev/null) || return 1
    state=${stat##*) }
    state=${state%% *}
    [[ $state != Z && $state != X ]] || return 1
    [[ $(cat "/proc/$pid/comm" 2>/dev/null) == "$name" ]]
}
# running PIDFILE NAME: the daemon of that pid file is alive
running() { [[ -s $1 ]] && alive "$(<"$1")" "$2"; }

# wait_for SECONDS WHAT COMMAND...: poll COMMAND every 0.2 s until it succeeds
wait_for() {
    local seconds=$1 what=$2
    shift 2
    local deadline=$((SECONDS + seconds))
    until "$@" >/dev/null 2>&1; do
        ((SECONDS < deadline)) || return 1
        sleep 0.2
    done
}

[[ $(id -u) == 0 ]] || die "must run as root (it installs packages and starts system daemons)"
command -v apt-get >/dev/null || die "apt-get not found: this script supports Debian/Ubuntu only"

# ---------------------------------------------------------------- packages
PACKAGES=(slurm-wlm munge)
((ACCOUNTING)) && PACKAGES+=(slurmdbd mariadb-server)
missing=()
for package in "${PACKAGES[@]}"; do
    status=$(dpkg-query -W -f='${Status}' "$package" 2>/dev/null || true)
    [[ $status == "install ok installed" ]] || missing+=("$package")
done
if ((${#missing[@]})); then
    # No daemon may start from a postinst script: this script starts them itself.
    temporary_policy=0
    if [[ ! -e /usr/sbin/policy-rc.d ]]; then
        printf '#!/bin/sh\n# temporary, from start-local-slurm.sh\nexit 101\n' >/usr/sbin/policy-rc.d
        chmod 755 /usr/sbin/policy-rc.d
        temporary_policy=1
        trap 'rm -f /usr/sbin/policy-rc.d' EXIT
    fi
    export DEBIAN_FRONTEND=noninteractive
    apt-get -o DPkg::Lock::Timeout=300 update -qq || die "apt-get update failed"
    step "apt-get update"
    apt-get -o DPkg::Lock::Timeout=300 install -y -qq --no-install-recommends "${missing[@]}" \
        >/tmp/start-local-slurm-apt.log 2>&1 ||
        { tail -n 30 /tmp/start-local-slurm-apt.log >&2; die "apt-get install ${missing[*]} failed"; }
    if ((temporary_policy)); then
        rm -f /usr/sbin/policy-rc.d
        trap - EXIT
    fi
    step "apt-get install ${missing[*]}"
fi
for binary in munged slurmctld slurmd; do
    [[ -x /usr/sbin/$binary ]] || die "/usr/sbin/$binary missing after installing ${PACKAGES[*]}"
done
if ((ACCOUNTING)); then
    for binary in slurmdbd mariadbd; do
        [[ -x /usr/sbin/$binary ]] || die "/usr/sbin/$binary missing after installing ${PACKAGES[*]}"
    done
fi

# ---------------------------------------------------------------- slurm.conf
HOST=$(hostname -s)
[[ -n $HOST ]] || die "hostname -s is empty"
hardware=$(slurmd -C 2>/dev/null | head -n 1) || die "slurmd -C failed"
field() { sed -nE "s/.*[[:space:]]$1=([0-9]+).*/\1/p" <<<" $hardware"; }
CPUS=$(field CPUs)
SOCKETS=$(field SocketsPerBoard)
CORES=$(field CoresPerSocket)
THREADS=$(field ThreadsPerCore)
DETECTED_MB=$(field RealMemory)
[[ -n $CPUS && -n $SOCKETS && -n $CORES && -n $THREADS && -n $DETECTED_MB ]] ||
    die "could not read the node's layout from 'slurmd -C': $hardware"
REAL_MB=$((DETECTED_MB * 85 / 100)) # RealMemory above what slurmd detects drains the node

if ((ACCOUNTING)); then
    ACCOUNTING_LINES="AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=localhost
AccountingStoreFlags=job_comment
JobAcctGatherType=jobacct_gather/linux
JobAcctGatherFrequency=30"
else
    ACCOUNTING_LINES="AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none"
fi

mkdir -p "$CONF_DIR" "$LOG_DIR" /var/spool/slurmctld /var/spool/slurmd
new_conf=$(
    cat <<EOF
# Written by tests/slurm/start-local-slurm.sh: a single-node test cluster.
ClusterName=$CLUSTER
SlurmctldHost=$HOST(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
MpiDefault=none
MailProg=/bin/true
StateSaveLocation=/var/spool/slurmctld
SlurmdSpoolDir=/var/spool/slurmd
SlurmctldPidFile=$SLURMCTLD_PID
SlurmdPidFile=$SLURMD_PID
SlurmctldLogFile=$LOG_DIR/slurmctld.log
SlurmdLogFile=$LOG_DIR/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
$ACCOUNTING_LINES
JobCompType=jobcomp/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
DefMemPerCPU=1024
ReturnToService=2
MinJobAge=600
SlurmctldTimeout=30
SlurmdTimeout=30
InactiveLimit=0
KillWait=10
NodeName=$HOST NodeAddr=127.0.0.1 CPUs=$CPUS SocketsPerBoard=$SOCKETS CoresPerSocket=$CORES ThreadsPerCore=$THREADS RealMemory=$REAL_MB State=UNKNOWN
PartitionName=$PARTITION Nodes=$HOST Default=YES MaxTime=INFINITE State=UP
EOF
)
if [[ ! -f $CONF_DIR/slurm.conf || $(<"$CONF_DIR/slurm.conf") != "$new_conf" ]]; then
    # A running slurmctld/slurmd would keep the old settings: restart them with the new file.
    for daemon in slurmd:$SLURMD_PID slurmctld:$SLURMCTLD_PID; do
        name=${daemon%%:*} pidfile=${daemon#*:}
        if running "$pidfile" "$name"; then
            pid=$(<"$pidfile")
            kill -TERM "$pid"
            for _ in $(seq 150); do alive "$pid" "$name" || break; sleep 0.2; done
            alive "$pid" "$name" && die "$name (pid $pid) did not stop for the config change"
        fi
    done
    printf '%s\n' "$new_conf" >"$CONF_DIR/slurm.conf"
    chmod 644 "$CONF_DIR/slurm.conf"
fi
step "slurm.conf ($HOST: $CPUS CPUs, ${REAL_MB} MB, accounting=$ACCOUNTING)"

# ---------------------------------------------------------------- munge
munge_works() { munge -n | unmunge; }
if ! running "$MUNGE_PID" munged; then
    if munge_works >/dev/null 2>&1; then
        die "a munged not started by this script is running (no live $MUNGE_PID); stop it first"
    fi
    mkdir -p /run/munge /etc/munge /var/log/munge /var/lib/munge
    if [[ ! -s /etc/munge/munge.key ]]; then
        dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 status=none
    fi
    chown munge:munge /run/munge /etc/munge /etc/munge/munge.key /var/log/munge /var/lib/munge
    chmod 700 /etc/munge
    chmod 600 /etc/munge/munge.key
    # --force: start even if a killed munged left its socket behind
    runuser -u munge -- /usr/sbin/munged --force ||
        { show_log /var/log/munge/munged.log; die "munged failed to start"; }
    wait_for 20 munged munge_works ||
        { show_log /var/log/munge/munged.log; die "munged started but 'munge -n | unmunge' fails"; }
    step "munged started (pid $(<"$MUNGE_PID"))"
else
    step "munged already running (pid $(<"$MUNGE_PID"))"
fi

# ---------------------------------------------------------------- MariaDB + slurmdbd
if ((ACCOUNTING)); then
    db_works() { mariadb -N -e 'SELECT 1'; }
    if ! running "$MARIADB_PID" mariadbd; then
        mkdir -p /run/mysqld
        chown mysql:mysql /run/mysqld
        if [[ ! -d /var/lib/mysql/mysql ]]; then
            mariadb-install-db --user=mysql --datadir=/var/lib/mysql \
                >"$LOG_DIR/mariadb-install-db.log" 2>&1 ||
                { show_log "$LOG_DIR/mariadb-install-db.log"; die "mariadb-install-db failed"; }
        fi
        # Unix socket only: slurmdbd's StorageHost=localhost uses the socket.
        setsid nohup /usr/sbin/mariadbd --user=mysql --skip-networking --pid-file="$MARIADB_PID" \
            >>"$LOG_DIR/mariadbd.log" 2>&1 </dev/null &
        wait_for 60 mariadbd db_works || { show_log "$LOG_DIR/mariadbd.log"; die "mariadbd did not come up"; }
        wait_for 10 "mariadbd pid file" running "$MARIADB_PID" mariadbd ||
            die "mariadbd answers but $MARIADB_PID names no live mariadbd"
        step "mariadbd started (pid $(<"$MARIADB_PID"))"
    else
        step "mariadbd already running (pid $(<"$MARIADB_PID"))"
    fi
    mariadb -e "CREATE DATABASE IF NOT EXISTS $DB_NAME;
        CREATE USER IF NOT EXISTS '$DB_USER'@'localhost' IDENTIFIED BY '$DB_PASS';
        GRANT ALL ON $DB_NAME.* TO '$DB_USER'@'localhost';" || die "could not create the accounting database"

    new_dbd_conf="# Written by tests/slurm/start-local-slurm.sh. Must be mode 600, owned by SlurmUser.
AuthType=auth/munge
DbdHost=localhost
DbdAddr=127.0.0.1
SlurmUser=root
DebugLevel=info
LogFile=$LOG_DIR/slurmdbd.log
PidFile=$SLURMDBD_PID
StorageType=accounting_storage/mysql
StorageHost=localhost
StorageUser=$DB_USER
StoragePass=$DB_PASS
StorageLoc=$DB_NAME"
    (
        umask 077
        printf '%s\n' "$new_dbd_conf" >"$CONF_DIR/slurmdbd.conf"
    )
    chown root:root "$CONF_DIR/slurmdbd.conf"
    chmod 600 "$CONF_DIR/slurmdbd.conf"

    if ! running "$SLURMDBD_PID" slurmdbd; then
        /usr/sbin/slurmdbd || { show_log "$LOG_DIR/slurmdbd.log"; die "slurmdbd failed to start"; }
        wait_for 30 slurmdbd sacctmgr -n list cluster ||
            { show_log "$LOG_DIR/slurmdbd.log"; die "slurmdbd does not answer sacctmgr"; }
        step "slurmdbd started (pid $(<"$SLURMDBD_PID"))"
    else
        step "slurmdbd already running (pid $(<"$SLURMDBD_PID"))"
    fi

    if [[ -z $(sacctmgr -n -P list cluster "$CLUSTER" format=cluster) ]]; then
        sacctmgr -i add cluster "$CLUSTER" >/dev/null || die "sacctmgr add cluster $CLUSTER failed"
    fi
    if [[ -z $(sacctmgr -n -P list account "$ACCOUNT" format=account) ]]; then
        sacctmgr -i add account "$ACCOUNT" Cluster="$CLUSTER" Description=tests Organization=tests \
            >/dev/null || die "sacctmgr add account $ACCOUNT failed"
    fi
    if [[ -z $(sacctmgr -n -P list association cluster="$CLUSTER" account="$ACCOUNT" user=root format=user) ]]; then
        sacctmgr -i add user root Cluster="$CLUSTER" Account="$ACCOUNT" DefaultAccount="$ACCOUNT" \
            >/dev/null || die "sacctmgr add user root failed"
    fi
    step "accounting: cluster $CLUSTER, account $ACCOUNT, user root"
fi

# ---------------------------------------------------------------- slurmctld + slurmd
ctld_up() { scontrol ping | grep -q ' is UP'; }
if ! running "$SLURMCTLD_PID" slurmctld; then
    /usr/sbin/slurmctld || { show_log "$LOG_DIR/slurmctld.log"; die "slurmctld failed to start"; }
    wait_for 30 slurmctld ctld_up || { show_log "$LOG_DIR/slurmctld.log"; die "slurmctld does not answer 'scontrol ping'"; }
    step "slurmctld started (pid $(<"$SLURMCTLD_PID"))"
else
    step "slurmctld already running (pid $(<"$SLURMCTLD_PID"))"
fi

if ! running "$SLURMD_PID" slurmd; then
    /usr/sbin/slurmd || { show_log "$LOG_DIR/slurmd.log"; die "slurmd failed to start"; }
    wait_for 10 slurmd running "$SLURMD_PID" slurmd || { show_log "$LOG_DIR/slurmd.log"; die "slurmd exited"; }
    step "slurmd started (pid $(<"$SLURMD_PID"))"
else
    step "slurmd already running (pid $(<"$SLURMD_PID"))"
fi

# idle, or busy with jobs when the cluster was already running
node_ready() { [[ $(sinfo -h -n "$HOST" -o %T) =~ ^(idle|mixed|allocated|completing)$ ]]; }
if ! wait_for 30 "node $HOST" node_ready; then
    # A node left down or drained by an earlier run: try once to resume it.
    scontrol update NodeName="$HOST" State=RESUME >/dev/null 2>&1 || true
    wait_for 30 "node $HOST" node_ready || {
        show_log "$LOG_DIR/slurmd.log"
        show_log "$LOG_DIR/slurmctld.log"
        die "node $HOST is '$(sinfo -h -n "$HOST" -o %T)' ($(sinfo -h -n "$HOST" -o %E)), not idle"
    }
fi
step "node $HOST $(sinfo -h -n "$HOST" -o %T)"

# ---------------------------------------------------------------- smoke test
smoke=$(timeout -k 5 60 srun --nodes=1 --ntasks=1 --time=1 --job-name=smoke-test hostname 2>&1) ||
    die "smoke test 'srun hostname' failed: $smoke"
[[ $smoke == *"$HOST"* ]] || die "smoke test 'srun hostname' printed '$smoke', expected $HOST"
step "srun hostname -> $smoke"
echo "start-local-slurm: ready in $(elapsed "$START" "$EPOCHREALTIME") s (partition $PARTITION$(
    ((ACCOUNTING)) && echo ", account $ACCOUNT" || echo ", no accounting: use --slurm-status-command squeue"
))"
