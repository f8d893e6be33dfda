# Sourced by the scripts of bench/: stopping what they started, the work
# directory, and free ports. A script sets $work and $keep, defines
# stop_all (which calls stop on each process it started) and calls
# remove_at_exit once.

# stop PID: SIGTERM, then SIGKILL after 5 s.
stop() {
  local pid=$1 i
  [ -n "$pid" ] || return 0
  kill "$pid" 2>/dev/null || return 0
  for ((i = 0; i < 50; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}

on_exit() {
  local status=$?
  trap - EXIT INT TERM
  stop_all
  if [ "$keep" -eq 1 ]; then
    echo "work directory kept: $work" >&2
  else
    rm -rf "$work"
  fi
  exit "$status"
}

# remove_at_exit stops the servers and removes $work at exit, on an error
# too. Ctrl-C ends the script through the traps: a non-interactive shell
# starts its background jobs with SIGINT ignored.
remove_at_exit() {
  trap on_exit EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
}

# free_port VAR sets VAR to a port nothing listens on, below Linux's
# ephemeral range (32768-60999) so that no client connection holds it, and
# not one handed out before.
taken_ports=()
free_port() {
  # The locals' names must differ from any VAR a caller passes.
  local -n _free_port_out=$1
  local _p _i
  for ((_i = 0; _i < 200; _i++)); do
    _p=$((20000 + RANDOM % 12000))
    [[ " ${taken_ports[*]} " == *" $_p "* ]] && continue
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$_p") 2>/dev/null; then
      taken_ports+=("$_p")
      _free_port_out=$_p
      return 0
    fi
  done
  echo "no free port on 127.0.0.1" >&2
  exit 1
}
