#!/usr/bin/env bash
# Every benchmark behind the README's tables, in one run, on a quiet machine:
#   bash bench/all.sh            # 105,000 files (about 45 minutes on 2 cores)
#   SIZE="--projects 500 --big 1000" DYNAMO_SIZE="--projects 100 --big 0" S3_OBJECTS=500 bash bench/all.sh
#                                # a quick look
# JSON goes to bench/results/ (not committed); the Markdown tables are printed at the end.
# pypicloud's side needs its own environment (never a dependency):
#   python -m venv /tmp/bench-ppc && /tmp/bench-ppc/bin/pip install pypicloud==1.3.12 'sqlalchemy<2' boto3 \
#     redis hiredis psycopg2-binary pymysql
set -euo pipefail
cd "$(dirname "$0")/.."
SIZE=${SIZE:-}
PG=${PG:-postgresql://postgres@127.0.0.1:5432}
MY=${MY:-mysql://root@127.0.0.1:3306}
out=bench/results
mkdir -p "$out" /tmp/bench
rm -f /tmp/bench/*.db*

psql -h 127.0.0.1 -U postgres -d postgres -qc 'DROP DATABASE IF EXISTS bench WITH (FORCE)' -c 'CREATE DATABASE bench' \
  -c 'DROP DATABASE IF EXISTS bench_ppc WITH (FORCE)' -c 'CREATE DATABASE bench_ppc'
mysql -h 127.0.0.1 -uroot -e 'DROP DATABASE IF EXISTS bench; CREATE DATABASE bench;
  DROP DATABASE IF EXISTS bench_ppc; CREATE DATABASE bench_ppc'

# $SIZE is a list of options: word splitting is meant
# shellcheck disable=SC2086
{
  python bench/run.py $SIZE --backend sql --url sqlite:////tmp/bench/cache.db --json $out/sqlite.json
  python bench/run.py $SIZE --backend sql --url $PG/bench --json $out/postgresql.json
  python bench/run.py $SIZE --backend sql --url "$MY/bench?charset=utf8mb4" --json $out/mariadb.json
  redis-cli -n 8 flushdb >/dev/null
  python bench/run.py $SIZE --backend redis --url redis://127.0.0.1:6379/8 --json $out/redis.json
  python bench/run.py $SIZE --backend memory --json $out/memory.json

  if [ -x /tmp/bench-ppc/bin/python ]; then
    python bench/versus.py $SIZE --backend sql --url sqlite:////tmp/bench/pkgcache.db \
      --ppc-url sqlite:////tmp/bench/pypicloud.db --json $out/versus-sqlite.json
    python bench/versus.py $SIZE --backend sql --url $PG/bench --ppc-url $PG/bench_ppc --json $out/versus-postgresql.json
    python bench/versus.py $SIZE --backend sql --url "$MY/bench?charset=utf8mb4" \
      --ppc-url "mysql+pymysql://root@127.0.0.1:3306/bench_ppc?charset=utf8mb4" --json $out/versus-mariadb.json
    redis-cli -n 8 flushdb >/dev/null && redis-cli -n 7 flushdb >/dev/null
    python bench/versus.py $SIZE --backend redis --url redis://127.0.0.1:6379/8 --ppc-url redis://127.0.0.1:6379/7 \
      --json $out/versus-redis.json
    redis-cli -n 7 flushdb >/dev/null
  fi
}

# DynamoDB against moto's server (a Python server: compare ratios, not times), S3 on moto
# beside pypicloud's S3Storage.list(), and the command line's start-up (ONLY=servers skips them)
if [ "${ONLY:-}" != servers ]; then
port=$(python -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
python -m moto.server -H 127.0.0.1 -p "$port" >/dev/null 2>&1 &
moto=$!
trap 'kill $moto 2>/dev/null || true' EXIT
for _ in $(seq 50); do python -c "import socket; socket.create_connection(('127.0.0.1', $port), 1)" 2>/dev/null && break; sleep 0.2; done
# shellcheck disable=SC2086
python bench/run.py ${DYNAMO_SIZE:---projects 1000 --files 10 --big 0} --backend dynamo --set db.host=127.0.0.1 \
  --set db.port="$port" --set db.access_key=bench --set db.secret_key=bench --set db.region=us-east-1 \
  --json $out/dynamo.json
kill $moto
python bench/s3.py --objects "${S3_OBJECTS:-5000}" --json $out/s3.json
python bench/s3.py --objects "${S3_OBJECTS:-5000}" --latency-ms 20 --json $out/s3-20ms.json
python -m compileall -q core/src plugins
python bench/startup.py
echo
python bench/table.py $out/dynamo.json
fi

echo
python bench/table.py $out/sqlite.json $out/postgresql.json $out/mariadb.json $out/redis.json $out/memory.json
if [ -f $out/versus-redis.json ]; then
  echo
  python bench/table.py --versus $out/versus-sqlite.json $out/versus-postgresql.json $out/versus-mariadb.json \
    $out/versus-redis.json
fi
