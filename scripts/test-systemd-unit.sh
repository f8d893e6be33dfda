#!/usr/bin/env bash
# Starts deploy/systemd/wicket.service under a real systemd and checks what
# an administrator would: the install steps of README.md's "Install on
# Debian", the service user, the file modes, a bind, reload, restart after
# a crash, a clean stop, and the sandbox the kernel actually applied.
#
# systemd runs as PID 1 of a throwaway container of this very host
# (systemd-nspawn --volatile=overlay: the host's files read-only under a
# memory overlay, so nothing written inside reaches the host; a private
# network, so the server is reachable on the container's loopback only).
#
# Needs root and systemd-nspawn (Debian: systemd-container).
# Usage: scripts/test-systemd-unit.sh WICKET_BINARY
# Exits 0 when every check passed; the container's transcript is printed.
set -euo pipefail

if [ $# -ne 1 ] || [ ! -x "$1" ]; then
  echo "usage: $0 WICKET_BINARY" >&2
  exit 2
fi
repo=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d /tmp/wicket-systemd.XXXXXX)
trap 'rm -rf "$work"' EXIT
mkdir "$work/root" "$work/in" "$work/out"
cp "$1" "$work/in/wicket"
cp "$repo"/deploy/systemd/wicket.{service,sysusers,tmpfiles,toml} "$work/in/"

# What runs inside, as a service of the container's systemd once it has
# booted. Each check prints "ok" or "FAIL"; the last line is the verdict.
cat >"$work/in/check.sh" <<'INSIDE'
#!/bin/bash
set -uo pipefail
exec >/smoke/out/transcript 2>&1
failed=0
ok() { echo "ok   $*"; }
fail() { echo "FAIL $*"; failed=1; }
check() { # check DESCRIPTION WANT GOT
  if [ "$2" = "$3" ]; then ok "$1: $3"; else fail "$1: got '$3', want '$2'"; fi
}
step() { echo "# $*"; "$@" || fail "$*"; }
# wait_for DESCRIPTION COMMAND...: polls for an event; the bound is only
# there to end a run that went wrong.
wait_for() {
  local what=$1; shift
  for _ in $(seq 300); do "$@" >/dev/null 2>&1 && return 0; sleep 0.1; done
  fail "$what did not happen within 30 s"; return 1
}
journal() { journalctl -q -u wicket -o cat --no-pager; }
mainpid() { systemctl show -p MainPID --value wicket; }
# However the checks end, the container is powered off.
finish() {
  echo "# journal of wicket.service"
  journal
  if [ $failed = 0 ]; then echo "ALL CHECKS PASSED"; else echo "SOME CHECKS FAILED"; fi
  systemctl poweroff --no-block --check-inhibitors=no
}
trap finish EXIT

echo "systemd $(systemctl --version | head -1)"
# The install, as README.md says.
step install -m 0755 /smoke/in/wicket /usr/local/bin/wicket
step install -D -m 0644 /smoke/in/wicket.sysusers /etc/sysusers.d/wicket.conf
step install -D -m 0644 /smoke/in/wicket.tmpfiles /etc/tmpfiles.d/wicket.conf
step systemd-sysusers /etc/sysusers.d/wicket.conf
step systemd-tmpfiles --create /etc/tmpfiles.d/wicket.conf
step install -m 0640 -o root -g wicket /smoke/in/wicket.toml /etc/wicket/wicket.toml
step install -m 0644 /smoke/in/wicket.service /etc/systemd/system/wicket.service
step wicket config check --config /etc/wicket/wicket.toml
step systemctl daemon-reload
step systemctl enable --now wicket

wait_for "the listening log line" sh -c 'journalctl -q -u wicket -o cat | grep -q "msg=listening"'
check "wicket.service" active "$(systemctl is-active wicket)"
# Nothing below means anything without a running server.
[ $failed = 0 ] || exit 1
check "the service's user" wicket "$(ps -o user= -p "$(mainpid)")"
version=$(wicket version | head -1 | cut -d' ' -f2)
check "root DSE vendorVersion" "$version" \
  "$(ldapsearch -x -LLL -H ldap://127.0.0.1:1389 -b '' -s base vendorVersion | sed -n 's/^vendorVersion: //p')"

# The kernel's view of the running process, not the unit's wishes.
status=/proc/$(mainpid)/status
check "NoNewPrivs" 1 "$(awk '/^NoNewPrivs:/ {print $2}' "$status")"
check "Seccomp (2: filter)" 2 "$(awk '/^Seccomp:/ {print $2}' "$status")"
check "CapEff" 0000000000000000 "$(awk '/^CapEff:/ {print $2}' "$status")"
check "CapBnd" 0000000000000000 "$(awk '/^CapBnd:/ {print $2}' "$status")"
check "umask" 0077 "$(awk '/^Umask:/ {print $2}' "$status")"

# An account made from a shell as the service user, used through the
# service: the CLI and the server share the database and its files.
secret=JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP
step runuser -u wicket -- sh -c 'echo Correct-Horse-42 | wicket --config /etc/wicket/wicket.toml user add alice --password-stdin'
step runuser -u wicket -- sh -c "echo $secret | wicket --config /etc/wicket/wicket.toml totp enroll alice --secret-file - >/dev/null"
check "a bind with password and code" "dn:uid=alice,ou=people,dc=example,dc=org" \
  "$(ldapwhoami -x -H ldap://127.0.0.1:1389 -D alice -w "Correct-Horse-42$(oathtool --totp -b $secret)")"
# A code works once; the binds below use an app password, as a mail client does.
apppw=$(runuser -u wicket -- wicket --config /etc/wicket/wicket.toml apppw create alice --label check --json |
  sed -n 's/^ *"password": "\(.*\)",*$/\1/p')
[ -n "$apppw" ] || fail "apppw create printed no password"

check "/etc/wicket" "root wicket 750" "$(stat -c '%U %G %a' /etc/wicket)"
check "/etc/wicket/wicket.toml" "root wicket 640" "$(stat -c '%U %G %a' /etc/wicket/wicket.toml)"
check "/var/lib/wicket" "wicket wicket 700" "$(stat -c '%U %G %a' /var/lib/wicket)"
check "/var/lib/wicket/wicket.db" "wicket wicket 600" "$(stat -c '%U %G %a' /var/lib/wicket/wicket.db)"
check "/var/lib/wicket/wicket.key" "wicket wicket 600" "$(stat -c '%U %G %a' /var/lib/wicket/wicket.key)"
check "files in /var/lib/wicket not the service user's" "" "$(find /var/lib/wicket ! -user wicket)"

# Reload is SIGHUP: the process stays, and says what it reloaded.
pid=$(mainpid)
step systemctl reload wicket
wait_for "the SIGHUP log line" sh -c 'journalctl -q -u wicket -o cat | grep -q "SIGHUP"'
check "main PID after reload" "$pid" "$(mainpid)"
journal | grep SIGHUP

# A crash is restarted (Restart=on-failure) on the same database.
step kill -KILL "$pid"
wait_for "a restart" sh -c "[ \"\$(systemctl show -p NRestarts --value wicket)\" = 1 ] && systemctl is-active -q wicket"
wait_for "the second listening line" sh -c '[ "$(journalctl -q -u wicket -o cat | grep -c "msg=listening")" = 2 ]'
check "a bind after the restart" "dn:uid=alice,ou=people,dc=example,dc=org" \
  "$(ldapwhoami -x -H ldap://127.0.0.1:1389 -D alice -w "$apppw")"

echo "# systemd-analyze security wicket.service as shipped, in the running manager's view"
systemd-analyze security --no-pager wicket.service | tail -1

# Port 389 with the drop-in README.md gives: the capability to bind it,
# and no private user namespace, where the capability would not count.
step mkdir -p /etc/systemd/system/wicket.service.d
printf '[Service]\nCapabilityBoundingSet=CAP_NET_BIND_SERVICE\nAmbientCapabilities=CAP_NET_BIND_SERVICE\nPrivateUsers=no\n' \
  >/etc/systemd/system/wicket.service.d/port-389.conf
step sed -i 's/^listen *=.*/listen = "127.0.0.1:389"/' /etc/wicket/wicket.toml
step systemctl daemon-reload
step systemctl restart wicket
wait_for "the listening line on port 389" sh -c 'journalctl -q -u wicket -o cat | grep -q "addr=ldap://127.0.0.1:389 "'
check "a bind on port 389" "dn:uid=alice,ou=people,dc=example,dc=org" \
  "$(ldapwhoami -x -H ldap://127.0.0.1:389 -D alice -w "$apppw")"
check "CapEff with the drop-in" 0000000000000400 "$(awk '/^CapEff:/ {print $2}' "/proc/$(mainpid)/status")"


# A stop is SIGTERM: operations finish, the database is closed, exit 0.
step systemctl stop wicket
check "stop result" success "$(systemctl show -p Result --value wicket)"
check "main process exit status" 0 "$(systemctl show -p ExecMainStatus --value wicket)"
journal | grep -q "database closed" && ok "logged: database closed" || fail "no 'database closed' in the journal"
INSIDE
chmod 755 "$work/in/check.sh"
cat >"$work/in/check.service" <<'UNIT'
[Unit]
Description=check wicket.service
[Service]
Type=oneshot
ExecStart=/smoke/in/check.sh
UNIT

# A private mount namespace: the bind of / and the tmpfs on /run that
# systemd-nspawn needs exist for it alone. --register=no and --keep-unit
# let it run without a systemd on the host.
unshare --mount --propagation private bash -c '
  set -e
  mount --bind / "$1/root"
  mount -t tmpfs tmpfs /run
  exec timeout 300 systemd-nspawn --quiet --register=no --keep-unit --link-journal=no \
    --directory="$1/root" --volatile=overlay --private-network \
    --bind-ro="$1/in:/smoke/in" --bind="$1/out:/smoke/out" \
    --bind-ro="$1/in/check.service:/etc/systemd/system/check.service" \
    --boot -- systemd.unit=check.service
' _ "$work" >"$work/out/console" 2>&1 || {
  echo "systemd-nspawn failed:" >&2
  cat "$work/out/console" >&2
}
cat "$work/out/transcript" 2>/dev/null || { echo "the check did not run; console:"; cat "$work/out/console"; exit 1; }
grep -qx "ALL CHECKS PASSED" "$work/out/transcript"
