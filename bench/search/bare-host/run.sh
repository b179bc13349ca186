#!/bin/bash
# bench/search on the distributed stores (PostgreSQL 15 + Chroma) on a bare x86-64 Linux host, from pack.sh's archive:
# loads N documents once, then measures the steady state (run.mjs --queries 600 --warmup 500) RUNS16 times with every
# core, then RUNS2 times with PostgreSQL, Chroma and the bench on two CPUs of different cores: the same machine and
# stores with and without room to run side by side. Run as root (PostgreSQL runs as an unprivileged user it creates),
# from the repository root:
#   [N=100000] [RUNS16=3] [RUNS2=2] [OUT=dir] bash bench/search/bare-host/run.sh
set -uo pipefail
N=${N:-100000}; PGPORT=${PGPORT:-5432}; RUNS16=${RUNS16:-3}; RUNS2=${RUNS2:-2}; OUTD=${OUT:-/tmp/clara-bare-host-out}
REPO=$(cd "$(dirname "$0")/../../.." && pwd); P=/tmp/clara-bare-host; mkdir -p $OUTD; rm -rf $P; mkdir -p $P; chmod 755 $P
log() { echo "[$(date +%T)] $*"; }
log start; nproc; lscpu | grep -E "^Model name|^CPU\(s\)|^Thread|^Core|^Socket|MHz" ; uname -r; free -g | head -2
tar -C $P -xJf $REPO/bench/results/bare-host/pack.tar.xz && chmod 755 $P || exit 1
export PATH=$P/node/bin:$PATH; node -v || exit 1
id pgrun >/dev/null 2>&1 || useradd -M -r -s /bin/false pgrun 2>/dev/null || true
U=$(id -u pgrun 2>/dev/null || echo 65534); G=$(id -g pgrun 2>/dev/null || echo 65534)
mkdir -p $P/pgdata $P/sock && chown $U:$G $P/pgdata $P/sock
BIN=$P/pg/usr/lib/postgresql/15/bin
as_pg() {
  if command -v setpriv >/dev/null; then setpriv --reuid=$U --regid=$G --clear-groups env LD_LIBRARY_PATH=$P/pglibs "$@"
  else LD_LIBRARY_PATH=$P/pglibs python3 -c 'import os,sys; os.setgroups([]); os.setgid(int(sys.argv[2])); os.setuid(int(sys.argv[1])); os.execvp(sys.argv[3], sys.argv[3:])' $U $G "$@"; fi
}
# two CPUs on different physical cores (no SMT siblings), and a way to pin processes to them
TWO=$(python3 -c "
import glob
seen, cpus = set(), []
for d in sorted(glob.glob('/sys/devices/system/cpu/cpu[0-9]*'), key=lambda d: int(d.rsplit('cpu', 1)[1])):
    try: key = (open(d + '/topology/physical_package_id').read().strip(), open(d + '/topology/core_id').read().strip())
    except OSError: continue
    if key not in seen: seen.add(key); cpus.append(d.rsplit('cpu', 1)[1])
print(','.join(cpus[:2]))")
echo "two CPUs on different cores: $TWO"
pin_pid() { python3 -c "import os,sys; cpus={int(c) for c in sys.argv[1].split(',')}; [os.sched_setaffinity(int(t), cpus) for t in os.listdir('/proc/%s/task' % sys.argv[2])]" $TWO $1; }
pinned() { python3 -c "import os,sys; os.sched_setaffinity(0, {int(c) for c in sys.argv[1].split(',')}); os.execvp(sys.argv[2], sys.argv[2:])" $TWO "$@"; }
as_pg $BIN/initdb -D $P/pgdata -U postgres --auth=trust --locale=C.UTF-8 -E UTF8 >$OUTD/initdb.txt 2>&1 || { cat $OUTD/initdb.txt; exit 1; }
as_pg $BIN/pg_ctl -D $P/pgdata -l $P/sock/pg.log -w -o "-c port=$PGPORT -c listen_addresses=127.0.0.1 -c unix_socket_directories=$P/sock -c autovacuum=off -c shared_buffers=128MB -c max_connections=100" start || { cat $P/sock/pg.log; exit 1; }
export TEST_POSTGRES_URL=postgres://postgres@127.0.0.1:$PGPORT/postgres
cd $P/app
log load $N
timeout ${LOAD_LIMIT:-420} node bench/search/run.mjs --stores distributed --distributed-keep D --n $N --queries 20 >$OUTD/load.txt 2>&1; rc=$?
tail -4 $OUTD/load.txt; log "loaded rc=$rc"; [ $rc = 0 ] || { tail -30 $OUTD/load.txt; cp $P/sock/pg.log $OUTD/; exit 1; }
node -e "const pg=require('pg');const c=new pg.Client({connectionString:'postgres://postgres@127.0.0.1:$PGPORT/clara_bench_keep_D'});c.connect().then(()=>c.query('VACUUM ANALYZE')).then(()=>c.end()).then(()=>console.log('vacuumed'))"
steady() { node bench/search/run.mjs --stores distributed --distributed-keep D --n $N --queries 600 --warmup 500 "$@"; }
for i in $(seq 1 $RUNS16); do log "all cores, run $i"; steady 2>>$OUTD/stderr.txt | tee -a $OUTD/all-cores.txt | grep -E "^(\| distributed|- distributed)"; done
# two cores: the running PostgreSQL processes (new backends inherit the postmaster's CPUs), this process and Chroma
for d in /proc/[0-9]*; do [ "$(stat -c %u $d 2>/dev/null)" = "$U" ] && pin_pid ${d#/proc/}; done
for i in $(seq 1 $RUNS2); do log "CPUs $TWO, run $i"; pinned bash -c "$(declare -f steady); N=$N steady" 2>>$OUTD/stderr.txt | tee -a $OUTD/two-cores.txt | grep -E "^(\| distributed|- distributed)"; done
log done
as_pg $BIN/pg_ctl -D $P/pgdata -m fast stop >/dev/null
