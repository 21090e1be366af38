# Shared helpers of `make e2e` (sourced, not run). See scripts/e2e/run.sh.
# Everything stays on this machine: a Docker daemon with no bridge network (containers use
# the host's network, servers listen on 127.0.0.1 only), base images from Debian's archive.

E2E_STATE=${E2E_STATE:-/var/tmp/perflab-e2e}        # cached base images, act's HOME
DOCKER_ROOT=${DOCKER_ROOT:-/var/tmp/perflab-docker}  # the daemon's data root (cached layers)
DOCKER_SOCK=/run/perflab-docker.sock
DOCKER_PIDFILE=/run/perflab-docker.pid
export DOCKER_HOST=unix://$DOCKER_SOCK
DOCKER=/usr/bin/docker  # docker.io's client, matching its daemon
export PATH=/usr/local/go/bin:$PATH  # Go on this machine kind
SUDO=""; if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi

log() { printf 'e2e: %s\n' "$*" >&2; }
die() { printf 'e2e: %s\n' "$*" >&2; exit 1; }

# e2e_install installs docker.io and debootstrap when missing.
e2e_install() {
  local missing=()
  for p in docker.io debootstrap; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if ((${#missing[@]})); then
    log "installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    # Another engineer's apt may hold the lock: wait for it rather than fail.
    $SUDO apt-get -o DPkg::Lock::Timeout=600 update -q
    $SUDO apt-get -o DPkg::Lock::Timeout=600 install -y -q --no-install-recommends "${missing[@]}"
  fi
}

# e2e_dockerd starts a daemon unless one answers on $DOCKER_SOCK; it sets STARTED_DOCKERD=1
# when it started one (e2e_stop_dockerd then stops that one, by its pid file).
STARTED_DOCKERD=0
e2e_dockerd() {
  if $DOCKER info >/dev/null 2>&1; then log "dockerd already running on $DOCKER_SOCK"; return; fi
  mkdir -p "$E2E_STATE" "$DOCKER_ROOT"
  log "starting dockerd (no bridge, no iptables, data root $DOCKER_ROOT)"
  $SUDO dockerd --bridge=none --iptables=false --ip6tables=false --data-root "$DOCKER_ROOT" \
    -H "unix://$DOCKER_SOCK" --pidfile "$DOCKER_PIDFILE" >"$E2E_STATE/dockerd.log" 2>&1 &
  STARTED_DOCKERD=1
  for _ in $(seq 1 120); do
    $DOCKER info >/dev/null 2>&1 && return
    sleep 0.5
  done
  tail -20 "$E2E_STATE/dockerd.log" >&2
  die "dockerd did not answer on $DOCKER_SOCK within 60 s (log: $E2E_STATE/dockerd.log)"
}

e2e_stop_dockerd() {
  [ "$STARTED_DOCKERD" = 1 ] || return 0
  local pid
  pid=$(cat "$DOCKER_PIDFILE" 2>/dev/null || true)
  [ -n "$pid" ] || return 0
  log "stopping the dockerd this run started (pid $pid)"
  $SUDO kill "$pid" 2>/dev/null || true
  for _ in $(seq 1 60); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.5; done
  $SUDO kill -9 "$pid" 2>/dev/null || true
}

# e2e_base_images makes debian:bookworm-slim (debootstrap, cached as a tarball under
# $E2E_STATE) and golang:1.26-bookworm (that base + gcc/git + this machine's Go) when the
# daemon lacks them. On a real runner both come from Docker Hub.
e2e_base_images() {
  if ! $DOCKER image inspect debian:bookworm-slim >/dev/null 2>&1; then
    local tarball=$E2E_STATE/bookworm-minbase.tar
    if [ ! -s "$tarball" ]; then
      log "debootstrap bookworm (minbase) -> $tarball"
      local root=$E2E_STATE/rootfs
      $SUDO rm -rf "$root"
      $SUDO debootstrap --variant=minbase bookworm "$root" http://deb.debian.org/debian >"$E2E_STATE/debootstrap.log" 2>&1 \
        || { tail -20 "$E2E_STATE/debootstrap.log" >&2; die "debootstrap failed (log: $E2E_STATE/debootstrap.log)"; }
      $SUDO rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*
      $SUDO tar -C "$root" -cf "$tarball.tmp" . && mv "$tarball.tmp" "$tarball"
      $SUDO rm -rf "$root"
    fi
    $DOCKER import "$tarball" debian:bookworm-slim >/dev/null
    # The job container of the workflows act runs (checkout, run steps) and the action's base.
    $DOCKER tag debian:bookworm-slim debian:bookworm
  fi
  if ! $DOCKER image inspect golang:1.26-bookworm >/dev/null 2>&1; then
    log "making golang:1.26-bookworm from debian:bookworm-slim + $(go env GOROOT)"
    local ctx=$E2E_STATE/golang-ctx
    rm -rf "$ctx"; mkdir -p "$ctx"
    cp -a "$(go env GOROOT)" "$ctx/go"
    cp /etc/ssl/certs/ca-certificates.crt "$ctx/"
    cat >"$ctx/Dockerfile" <<'DF'
FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends gcc libc6-dev git ca-certificates \
 && rm -rf /var/lib/apt/lists/*
COPY ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY go /usr/local/go
ENV PATH=/usr/local/go/bin:/go/bin:$PATH GOPATH=/go GOTOOLCHAIN=local
DF
    $DOCKER build --network host -q -t golang:1.26-bookworm "$ctx" >/dev/null
    rm -rf "$ctx"
  fi
}
