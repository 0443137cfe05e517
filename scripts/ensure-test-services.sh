#!/usr/bin/env bash
# Makes sure the services the tests need are available (dev machine or CI); idempotent, one line per service.
#   ActiveMQ  : Debian's `activemq` package (the tests start private brokers from it) — installed if missing and we may.
#   Chromium, nginx, apache2: Debian's packages, for the browser and reverse-proxy tests — the same.
#   Django    : Debian's python3-django, python3-djangorestframework, python3-psycopg2, for the tests
#               against swf-monitor's own database — the same.
#   promtool  : Debian's prometheus package, for the alert rules' tests — the same; only promtool is used.
#   Python packaging: Debian's python3-venv, python3-setuptools, python3-wheel, for the test that
#               pip-installs clients/python offline into a fresh venv — the same.
#   PostgreSQL: TEST_DATABASE_URL's host:port, else 127.0.0.1:5432 — a local cluster is started if it is down.
#   Redis     : 127.0.0.1:6379 (and redis-server for private instances) — started if down; installed if missing and we may.
#   Redis Sentinel: Debian's redis-sentinel, for the failover test's private sentinels — installed if missing and we may.
set -euo pipefail

source "$(dirname "$0")/lib.sh"

# --- ActiveMQ ---------------------------------------------------------------
ensure_package activemq activemq_present || exit 1
echo "activemq: ok ($ACTIVEMQ_JAR)"

# --- Chromium, nginx and Apache httpd (browser and reverse-proxy tests) -----
# The tests run private nginx and apache2 processes on free ports. Under systemd, installing
# apache2 starts a server on port 80: one started by our install is stopped and disabled again.
had_apache=0
test -x /usr/sbin/apache2 && had_apache=1
for need in chromium:/usr/bin/chromium nginx:/usr/sbin/nginx apache2:/usr/sbin/apache2; do
  pkg=${need%%:*} bin=${need#*:}
  ensure_package "$pkg" test -x "$bin" || exit 1
  echo "$pkg: ok ($bin)"
done
if [ "$had_apache" = 0 ] && have systemctl && systemctl is-active --quiet apache2 2>/dev/null; then
  as_root systemctl disable --now apache2 >/dev/null 2>&1 || true
  echo "apache2: stopped the server its package started (the tests run their own)"
fi

# --- Python modules of Debian's python3 ---------------------------------------
# Django with DRF and psycopg2: tests against swf-monitor's own database, made by Django.
# venv (ensurepip), setuptools and wheel: clients/python installed offline into a venv.
for need in python3-django:django python3-djangorestframework:rest_framework python3-psycopg2:psycopg2 \
  python3-venv:ensurepip python3-setuptools:setuptools python3-wheel:wheel; do
  pkg=${need%%:*} module=${need#*:}
  ensure_package "$pkg" python_module "$module" || exit 1
  echo "$pkg: ok (/usr/bin/python3 imports $module)"
done

# --- promtool (the alert rules' tests) -----------------------------------------
# Debian ships promtool in its prometheus package, whose install starts a Prometheus server under
# systemd. The tests need only promtool: a server started by our install is stopped and disabled
# again (one that was there before is left alone).
had_promtool=0
have promtool && had_promtool=1
ensure_package prometheus have promtool || exit 1
if [ "$had_promtool" = 0 ] && have systemctl && systemctl is-active --quiet prometheus 2>/dev/null; then
  as_root systemctl disable --now prometheus >/dev/null 2>&1 || true
  echo "prometheus: stopped the server its package started (the tests use only promtool)"
fi
echo "prometheus: ok ($(command -v promtool))"

# --- PostgreSQL -------------------------------------------------------------
pg_host=127.0.0.1 pg_port=5432
if [ -n "${TEST_DATABASE_URL:-}" ]; then
  hostport=${TEST_DATABASE_URL#*://}   # drop the scheme
  hostport=${hostport%%[/?]*}          # drop /database and ?params
  hostport=${hostport##*@}             # drop user:password@
  if [[ $hostport =~ ^\[(.*)\](:([0-9]+))?$ ]]; then pg_host=${BASH_REMATCH[1]} pg_port=${BASH_REMATCH[3]:-5432}
  else pg_host=${hostport%%:*}; [[ $hostport == *:* ]] && pg_port=${hostport##*:}
  fi
  pg_host=${pg_host:-127.0.0.1}
fi

pg_ready() {
  if have pg_isready; then pg_isready -q -h "$pg_host" -p "$pg_port" -t 3
  else timeout 3 bash -c "exec 3<>/dev/tcp/$pg_host/$pg_port" 2>/dev/null
  fi
}

if ! pg_ready; then
  case $pg_host in
    127.0.0.1 | localhost | ::1)
      if have pg_ctlcluster && [ -d /etc/postgresql ]; then
        echo "postgresql: not ready on $pg_host:$pg_port, starting the local cluster"
        for version in $(ls /etc/postgresql); do
          as_root pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
        done
        for _ in $(seq 1 20); do pg_ready && break; sleep 0.5; done
      fi
      ;;
  esac
fi
if ! pg_ready; then
  if [ -n "${TEST_DATABASE_URL:-}" ]; then where="$pg_host:$pg_port (from TEST_DATABASE_URL)"; else where="$pg_host:$pg_port"; fi
  echo "postgresql: NOT reachable at $where — start it (pg_ctlcluster --skip-systemctl-redirect \$(ls /etc/postgresql) main start)," \
    "install Debian's postgresql package, or point TEST_DATABASE_URL at a server you can use" >&2
  exit 1
fi
echo "postgresql: ok ($pg_host:$pg_port)"

# --- Redis -------------------------------------------------------------------
redis_ready() { have redis-cli && [ "$(redis-cli -h 127.0.0.1 -p 6379 ping 2>/dev/null)" = PONG ]; }

ensure_package redis-server have redis-server || exit 1

if ! redis_ready && have redis-server; then
  echo "redis: not ready on 127.0.0.1:6379, starting redis-server"
  mkdir -p /var/lib/redis /var/log/redis 2>/dev/null || true
  as_root redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
    --dir /var/lib/redis --logfile /var/log/redis/ci.log >/dev/null || true
  for _ in $(seq 1 20); do redis_ready && break; sleep 0.25; done
fi
if redis_ready; then
  echo "redis: ok (127.0.0.1:6379)"
else
  echo "redis: MISSING on 127.0.0.1:6379 — install and start it (as root): $APT_INSTALL redis-server && redis-server --daemonize yes (or point TEST_REDIS_URL elsewhere)" >&2
  exit 1
fi

# The failover test starts its own sentinels on free ports: a system one the package may start is not used.
ensure_package redis-sentinel test -x /usr/bin/redis-sentinel || exit 1
echo "redis-sentinel: ok (/usr/bin/redis-sentinel)"
