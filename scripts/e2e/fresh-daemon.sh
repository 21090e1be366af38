# Sourced by scripts/e2e/fresh-*.sh: a Docker daemon of their own under $FRESH_WORK (default
# /var/tmp/perflab-fresh.PID): its socket, pid file, data root and exec root there, never
# make e2e's daemon or images (so a fresh run needs no e2e lock and changes nothing of
# make e2e's), with the minbase image of SUITE imported from make e2e's cached tarball
# (or debootstrapped). Stopped, and $FRESH_WORK removed, on exit (FRESH_KEEP=1 keeps it).
FRESH_WORK=${FRESH_WORK:-/var/tmp/perflab-fresh.$$}
export DOCKER_SOCK=$FRESH_WORK/docker.sock DOCKER_PIDFILE=$FRESH_WORK/docker.pid
export DOCKER_ROOT=$FRESH_WORK/docker DOCKER_EXECROOT=$FRESH_WORK/docker-exec
shared_state=${E2E_STATE:-/var/tmp/perflab-e2e}
export E2E_STATE=$FRESH_WORK/e2e
source scripts/e2e/lib.sh

fresh_done() {
  e2e_stop_dockerd
  # What the stopped daemon leaves mounted there (its default network namespace's file).
  local m
  for m in $(awk -v w="$FRESH_WORK/" 'index($2, w) == 1 {print $2}' /proc/mounts | sort -r); do $SUDO umount -l "$m" || true; done
  if [ "${FRESH_KEEP:-0}" = 1 ]; then log "kept $FRESH_WORK"
  elif grep -q " $FRESH_WORK/" /proc/mounts; then log "something is still mounted under $FRESH_WORK: left as it is"
  else $SUDO rm -rf "$FRESH_WORK"; fi
}

# fresh_daemon SUITE: starts the daemon, with debian:SUITE-slim in it.
fresh_daemon() {
  local suite=$1
  if [ -e "$FRESH_WORK" ] && [ -n "$(ls -A "$FRESH_WORK")" ]; then die "$FRESH_WORK is not empty: a fresh run needs an empty folder"; fi
  mkdir -p "$E2E_STATE"
  trap fresh_done EXIT
  e2e_install
  # The minbase tarball is only read: a copy of make e2e's cached one when there is one.
  if [ -s "$shared_state/$suite-minbase.tar" ]; then cp "$shared_state/$suite-minbase.tar" "$E2E_STATE/"; fi
  e2e_dockerd
  # debian:SUITE-slim only (e2e_base_images, which also makes a Go image, when there is no
  # tarball to import).
  if [ -s "$E2E_STATE/$suite-minbase.tar" ]; then
    $DOCKER import "$E2E_STATE/$suite-minbase.tar" "debian:$suite-slim" >/dev/null
  else
    e2e_base_images "$suite"
  fi
}
