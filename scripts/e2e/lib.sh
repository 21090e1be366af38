# Shared helpers of `make e2e` (sourced, not run). See scripts/e2e/run.sh.
# Everything stays on this machine: a Docker daemon with no bridge network (containers use
# the host's network, servers listen on 127.0.0.1 only), base images from Debian's archive.

E2E_STATE=${E2E_STATE:-/var/tmp/perflab-e2e}        # cached base images, act's HOME
DOCKER_ROOT=${DOCKER_ROOT:-/var/tmp/perflab-docker}  # the daemon's data root (cached layers)
DOCKER_SOCK=${DOCKER_SOCK:-/run/perflab-docker.sock}
DOCKER_PIDFILE=${DOCKER_PIDFILE:-/run/perflab-docker.pid}
# A daemon of its own (scripts/e2e/fresh-*.sh): another socket, pid file, data root and
# exec root (its containerd's state; empty: dockerd's default, /var/run/docker).
DOCKER_EXECROOT=${DOCKER_EXECROOT:-}
export DOCKER_HOST=unix://$DOCKER_SOCK
DOCKER=/usr/bin/docker  # docker.io's client, matching its daemon
export PATH=/usr/local/go/bin:$PATH  # Go on this machine kind
SUDO=""; if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi

log() { printf 'e2e: %s\n' "$*" >&2; }
die() { printf 'e2e: %s\n' "$*" >&2; exit 1; }

# e2e_install installs docker.io, debootstrap and curl (run.sh talks to the fake API with it)
# when missing.
e2e_install() {
  local missing=()
  for p in docker.io debootstrap curl; do
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
    ${DOCKER_EXECROOT:+--exec-root "$DOCKER_EXECROOT"} \
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

# e2e_mirror prints the Debian archive URL of this machine's own apt sources (deb822
# /etc/apt/sources.list.d/*.sources "URIs:", or one-line "deb URL SUITE main" entries): the
# first source of a plain suite (not -security, -updates, -backports) with component main.
# PERFLAB_DEBIAN_MIRROR overrides it (as in scripts/test-libtorch26.sh).
e2e_mirror() {
  if [ -n "${PERFLAB_DEBIAN_MIRROR:-}" ]; then echo "$PERFLAB_DEBIAN_MIRROR"; return; fi
  local url
  url=$(python3 - /etc/apt/sources.list.d/*.sources /etc/apt/sources.list /etc/apt/sources.list.d/*.list <<'PY'
import glob, re, sys
def plain(suites):
    return any(s and "-" not in s and "/" not in s for s in suites)
found = []
for path in sys.argv[1:]:
    try:
        text = open(path).read()
    except OSError:
        continue
    if path.endswith(".sources"):
        for stanza in re.split(r"\n\s*\n", text):
            f = {}
            for line in stanza.splitlines():
                m = re.match(r"([A-Za-z-]+):\s*(.*)", line)
                if m and not line.startswith("#"):
                    f[m.group(1).lower()] = m.group(2).split()
            if "deb" in f.get("types", []) and f.get("enabled", ["yes"])[0] != "no" \
                    and plain(f.get("suites", [])) and "main" in f.get("components", []):
                found += f.get("uris", [])
    else:
        for line in text.splitlines():
            line = re.sub(r"\[[^]]*\]", " ", line.split("#", 1)[0]).split()
            if len(line) >= 4 and line[0] == "deb" and plain([line[2]]) and "main" in line[3:]:
                found.append(line[1])
found = [u for u in found if u.startswith(("http://", "https://"))]
print(found[0].rstrip("/") if found else "")
PY
)
  [ -n "$url" ] || die "no Debian archive URL in this machine's apt sources (/etc/apt/sources.list.d/*.sources, /etc/apt/sources.list): set PERFLAB_DEBIAN_MIRROR"
  echo "$url"
}

# The suite of the action's image and of the job container act runs the workflows in:
# Debian trixie (libtorch 2.6). E2E_SUITE=bookworm gives the bookworm bases instead.
E2E_SUITE=${E2E_SUITE:-trixie}

# e2e_base_images [SUITE] makes debian:SUITE-slim (debootstrap --variant=minbase from this
# machine's Debian archive, cached as the tarball $E2E_STATE/SUITE-minbase.tar) and
# golang:1.26-SUITE (that base + this machine's Go and CA bundle) when the daemon lacks
# them. On a real runner both come from Docker Hub; the official Go image also has gcc,
# libc6-dev and git, which this stand-in leaves out: the Dockerfile's build stage installs
# what it compiles with (g++ brings gcc and libc6-dev) and its context has no .git, so a
# build that works on the stand-in works on the official image (apt's ~70-95 s saved here).
e2e_base_images() {
  local suite=${1:-$E2E_SUITE}
  if ! $DOCKER image inspect "debian:$suite-slim" >/dev/null 2>&1; then
    local tarball=$E2E_STATE/$suite-minbase.tar
    if [ ! -s "$tarball" ]; then
      local mirror root=$E2E_STATE/$suite-rootfs dlog=$E2E_STATE/debootstrap-$suite.log
      mirror=$(e2e_mirror)
      log "debootstrap $suite (minbase, $mirror) -> $tarball"
      $SUDO rm -rf "$root"
      $SUDO debootstrap --variant=minbase "$suite" "$root" "$mirror" >"$dlog" 2>&1 \
        || { tail -20 "$dlog" >&2; die "debootstrap failed (log: $dlog)"; }
      $SUDO rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*
      $SUDO tar -C "$root" -cf "$tarball.tmp" . && $SUDO mv "$tarball.tmp" "$tarball"
      $SUDO rm -rf "$root"
    fi
    log "importing $tarball as debian:$suite-slim"
    $DOCKER import "$tarball" "debian:$suite-slim" >/dev/null
    # The job container of the workflows act runs (checkout, run steps) and the action's base.
    $DOCKER tag "debian:$suite-slim" "debian:$suite"
  fi
  if ! $DOCKER image inspect "golang:1.26-$suite" >/dev/null 2>&1; then
    log "making golang:1.26-$suite from debian:$suite-slim + $(go env GOROOT)"
    local ctx=$E2E_STATE/golang-ctx
    rm -rf "$ctx"; mkdir -p "$ctx"
    cp -a "$(go env GOROOT)" "$ctx/go"
    cp /etc/ssl/certs/ca-certificates.crt "$ctx/"
    cat >"$ctx/Dockerfile" <<DF
FROM debian:$suite-slim
COPY ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY go /usr/local/go
ENV PATH=/usr/local/go/bin:/go/bin:\$PATH GOPATH=/go GOTOOLCHAIN=local
DF
    $DOCKER build --network host -q -t "golang:1.26-$suite" "$ctx" >/dev/null
    rm -rf "$ctx"
  fi
}
