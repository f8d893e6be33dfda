# Sourced by the scripts of bench/: installing Debian's packages, stopping
# what they started, the work directory, and free ports. A script sets
# $work and $keep, defines stop_all (which calls stop on each process it
# started) and calls remove_at_exit once.

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

# install_debian_packages SCRIPT PKG... installs the packages named (none:
# nothing to do) from Debian's archive when run as root, and otherwise says
# what to install and exits, SCRIPT naming the caller in the messages.
# slapd is installed without a configuration and its service kept from
# starting: the scripts run private instances, never a system directory.
install_debian_packages() {
  local script=$1 fresh_slapd=0 p
  shift
  [ $# -eq 0 ] && return 0
  for p in "$@"; do
    if [ "$p" = slapd ]; then fresh_slapd=1; fi
  done
  if [ "$(id -u)" -ne 0 ]; then
    echo "$script: missing Debian packages: $*" >&2
    echo "install them with: sudo apt-get install --no-install-recommends $*" >&2
    if [ "$fresh_slapd" -eq 1 ]; then
      echo "(slapd asks whether to configure a directory: answer \"Omit OpenLDAP server" >&2
      echo " configuration\", and stop and disable the slapd service if one started)" >&2
    fi
    exit 1
  fi
  echo "installing $* from Debian's packages" >&2
  export DEBIAN_FRONTEND=noninteractive
  local policy=0
  if [ "$fresh_slapd" -eq 1 ]; then
    # "Omit configuration": the package writes no /etc/ldap/slapd.d and no
    # database, so there is no system directory to start.
    echo 'slapd slapd/no_configuration boolean true' | debconf-set-selections
    # policy-rc.d answering 101 keeps the maintainer scripts from starting
    # the daemon (invoke-rc.d and deb-systemd-invoke obey it). An existing
    # one is the machine's own business and is left alone.
    if [ ! -e /usr/sbin/policy-rc.d ]; then
      printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
      chmod 755 /usr/sbin/policy-rc.d
      policy=1
    fi
  fi
  local rc=0
  { apt-get update -qq && apt-get install -y -qq --no-install-recommends "$@" >/dev/null; } || rc=$?
  [ "$policy" -eq 1 ] && rm -f /usr/sbin/policy-rc.d
  if [ "$rc" -ne 0 ]; then
    echo "$script: apt-get failed" >&2
    exit 1
  fi
  if [ "$fresh_slapd" -eq 1 ]; then
    # Belt and braces: a system slapd that started anyway is stopped, and
    # does not come up at the next boot either.
    if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
      systemctl disable --now slapd.service >/dev/null 2>&1 || true
    elif [ -x /etc/init.d/slapd ]; then
      /etc/init.d/slapd stop >/dev/null 2>&1 || true
      if command -v update-rc.d >/dev/null 2>&1; then
        update-rc.d slapd disable >/dev/null 2>&1 || true
      fi
    fi
  fi
}
