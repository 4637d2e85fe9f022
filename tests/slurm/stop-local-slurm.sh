#!/usr/bin/env bash
# Stop the single-node SLURM cluster that start-local-slurm.sh started.
#
#   bash tests/slurm/stop-local-slurm.sh [--purge-state]
#
# Stops slurmd, slurmctld, slurmdbd, mariadbd and munged, each by the pid in its pid file (never by
# name), and waits for each to exit (SIGKILL after 30 s). Daemons that are not running are skipped.
# --purge-state also drops the accounting database (through SQL: deleting its directory would leave
# orphaned InnoDB tables) and wipes the Slurm spool directories and logs, so the next start begins
# with job id 1 and an empty sacct. Packages and configs stay; slurm.conf gets MessageTimeout=1
# (see the end of this script), which start-local-slurm.sh drops again when it rewrites the file.
set -euo pipefail

PURGE=0
for arg in "$@"; do
    case $arg in
        --purge-state) PURGE=1 ;;
        -h | --help)
            sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'
            exit 0
            ;;
        *)
            echo "stop-local-slurm: unknown option '$arg' (try --help)" >&2
            exit 2
            ;;
    esac
done

DB_NAME=slurm_acct_db
LOG_DIR=/var/log/slurm
MARIADB_PID=/run/mysqld/mysqld.pid
START=$EPOCHREALTIME

elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }
die() {
    echo "stop-local-slurm: ERROR: $*" >&2
    exit 1
}
# alive PID NAME: exists, is not a zombie (PID 1 reaps orphans only after ~2 s), is called NAME
alive() {
    local pid=$1 name=$2 stat state
    [[ $pid =~ ^[0-9]+$ ]] || return 1
    stat=$(cat "/proc/$pid/stat" 2>/dev/null) || return 1
    state=${stat##*) }
    state=${state%% *}
    [[ $state != Z && $state != X ]] || return 1
    [[ $(cat "/proc/$pid/comm" 2>/dev/null) == "$name" ]]
}

# stop NAME PIDFILE: SIGTERM, wait up to 30 s, then SIGKILL
stop() {
    local name=$1 pidfile=$2 pid t0=$EPOCHREALTIME
    if [[ ! -s $pidfile ]] || ! alive "$(<"$pidfile")" "$name"; then
        echo "stop-local-slurm: $name not running"
        rm -f "$pidfile"
        return 0
    fi
    pid=$(<"$pidfile")
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 150); do
        alive "$pid" "$name" || break
        sleep 0.2
    done
    if alive "$pid" "$name"; then
        echo "stop-local-slurm: $name (pid $pid) ignored SIGTERM for 30 s: SIGKILL" >&2
        kill -KILL "$pid" 2>/dev/null || true
        for _ in $(seq 50); do
            alive "$pid" "$name" || break
            sleep 0.2
        done
        alive "$pid" "$name" && die "$name (pid $pid) is still running"
    fi
    rm -f "$pidfile"
    echo "stop-local-slurm: $name (pid $pid) stopped in $(elapsed "$t0" "$EPOCHREALTIME") s"
}

[[ $(id -u) == 0 ]] || die "must run as root"

stop slurmd /run/slurmd.pid
stop slurmctld /run/slurmctld.pid
stop slurmdbd /run/slurmdbd.pid

if ((PURGE)) && [[ -d /var/lib/mysql/$DB_NAME ]] && command -v mariadb >/dev/null; then
    started_db=0
    if [[ ! -s $MARIADB_PID ]] || ! alive "$(<"$MARIADB_PID")" mariadbd; then
        # Start MariaDB just to drop the database cleanly.
        mkdir -p /run/mysqld
        chown mysql:mysql /run/mysqld
        setsid nohup /usr/sbin/mariadbd --user=mysql --skip-networking --pid-file="$MARIADB_PID" \
            >>"$LOG_DIR/mariadbd.log" 2>&1 </dev/null &
        started_db=1
        for _ in $(seq 300); do
            mariadb -N -e 'SELECT 1' >/dev/null 2>&1 && break
            sleep 0.2
        done
    fi
    mariadb -e "DROP DATABASE IF EXISTS $DB_NAME" || die "could not drop the database $DB_NAME"
    echo "stop-local-slurm: dropped database $DB_NAME"
    ((started_db)) && for _ in $(seq 50); do [[ -s $MARIADB_PID ]] && break; sleep 0.2; done
fi
stop mariadbd "$MARIADB_PID"
stop munged /run/munge/munged.pid

# With no controller, every SLURM client command retries for MessageTimeout (default 10 s)
# before it gives up, and snakemake-executor-plugin-slurm runs `scontrol show config` when it is
# imported, that is at every snakemake start: a stopped test cluster would add ~9 s to each
# workflow command on this machine. So our slurm.conf, once no controller runs, lets clients
# give up at once.
CONF=/etc/slurm/slurm.conf
if [[ -f $CONF ]] && head -n 1 "$CONF" | grep -q 'start-local-slurm.sh' \
    && ! grep -q '^MessageTimeout=' "$CONF"; then
    printf '%s\n' "# Added by stop-local-slurm.sh while the cluster is stopped." "MessageTimeout=1" >>"$CONF"
    echo "stop-local-slurm: $CONF: MessageTimeout=1 until the next start"
fi

if ((PURGE)); then
    rm -rf /var/spool/slurmctld/* /var/spool/slurmd/*
    rm -f "$LOG_DIR"/*.log
    echo "stop-local-slurm: wiped /var/spool/slurmctld, /var/spool/slurmd and $LOG_DIR/*.log"
fi
echo "stop-local-slurm: done in $(elapsed "$START" "$EPOCHREALTIME") s"
