#!/usr/bin/env bash
# Starts the servers the integration tests talk to, only if they are not answering:
# Redis on 127.0.0.1:6379 and PostgreSQL on 127.0.0.1:5432 (trust auth for local
# connections), each installed from Debian if missing. Idempotent.
set -euo pipefail
if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; else SUDO=; fi
answers() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
wait_port() {
  for _ in $(seq 100); do answers "$1" && return 0; sleep 0.1; done
  echo "ensure_services: nothing answers on 127.0.0.1:$1" >&2
  return 1
}
apt_install() {
  echo "ensure_services: installing $*" >&2
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "$@" >/dev/null
}

if ! answers 6379; then
  command -v redis-server >/dev/null 2>&1 || apt_install redis-server
  echo "ensure_services: starting redis-server on 127.0.0.1:6379" >&2
  redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no >/dev/null
  wait_port 6379
fi

if ! answers 5432; then
  [ -d /etc/postgresql ] && [ -n "$(ls /etc/postgresql 2>/dev/null)" ] || apt_install postgresql
  version=$(ls /etc/postgresql | sort -V | tail -1)
  if ! $SUDO pg_lsclusters -h 2>/dev/null | grep -q "^$version main"; then
    $SUDO pg_createcluster "$version" main >/dev/null
  fi
  hba="/etc/postgresql/$version/main/pg_hba.conf"
  # The tests connect as postgres over TCP without a password (trust on loopback only).
  if ! $SUDO grep -q '^host all all 127.0.0.1/32 trust' "$hba"; then
    $SUDO sed -i '1i host all all 127.0.0.1/32 trust\nhost all all ::1/128 trust' "$hba"
  fi
  echo "ensure_services: starting PostgreSQL $version on 127.0.0.1:5432" >&2
  $SUDO pg_ctlcluster --skip-systemctl-redirect "$version" main start
  wait_port 5432
fi
