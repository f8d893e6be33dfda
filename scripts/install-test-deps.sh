#!/usr/bin/env bash
# Installs the real programs the tests drive, from Debian's packages, when
# they are missing. Needs root for apt-get; without it, says what to install.
#
# Dovecot, Postfix and slapd are installed for their binaries only: the
# tests run private instances from configurations under a temporary
# directory. The packages would otherwise start a system IMAP, mail and
# directory server on ports 143, 25 and 389, so nothing they install is
# allowed to start, and their services are disabled afterwards.
set -euo pipefail

need=()
daemons=()
command -v ldapwhoami >/dev/null 2>&1 || need+=(ldap-utils)
# ldapcompare (the Compare tests) comes with ldapwhoami, in ldap-utils.
command -v ldapcompare >/dev/null 2>&1 || need+=(ldap-utils)
# ldappasswd changes a password on the upstream slapd as an administrator would.
command -v ldappasswd >/dev/null 2>&1 || need+=(ldap-utils)
command -v oathtool   >/dev/null 2>&1 || need+=(oathtool)
# python-ldap and ldap3 for Debian's own python3, whatever python3 comes
# first in PATH.
/usr/bin/python3 -c 'import ldap' >/dev/null 2>&1 || need+=(python3-ldap)
/usr/bin/python3 -c 'import ldap3' >/dev/null 2>&1 || need+=(python3-ldap3)
# PHP's ldap extension, as Nextcloud and Roundcube use it.
command -v php        >/dev/null 2>&1 || need+=(php-cli)
php -r 'exit(function_exists("ldap_connect") ? 0 : 1);' >/dev/null 2>&1 || need+=(php-ldap)
# Apache httpd with mod_authnz_ldap: apache2-bin is the server and its
# modules without the apache2 package's system service and configuration,
# so there is nothing to keep from starting; the tests run a private
# instance from a configuration of their own.
[ -e /usr/lib/apache2/modules/mod_authnz_ldap.so ] || need+=(apache2-bin)
# The restore test backs up and restores the database as an administrator would.
command -v sqlite3    >/dev/null 2>&1 || need+=(sqlite3)
# The metrics test scrapes /metrics and probes /healthz as a monitoring host would.
command -v curl       >/dev/null 2>&1 || need+=(curl)
# script(1) gives a command a pseudo-terminal: the password prompts are
# tested as an administrator meets them.
command -v script     >/dev/null 2>&1 || need+=(bsdutils)
command -v gcc        >/dev/null 2>&1 || need+=(gcc libc6-dev)
# The version tests build with make and read the commit with git.
command -v make       >/dev/null 2>&1 || need+=(make)
command -v git        >/dev/null 2>&1 || need+=(git)
# deploy/systemd is checked with systemd's own tools (systemd-analyze,
# systemd-sysusers, systemd-tmpfiles) and started under a real systemd in a
# throwaway container (systemd-nspawn): nothing runs on the host's systemd.
command -v systemd-analyze >/dev/null 2>&1 || need+=(systemd)
command -v systemd-nspawn  >/dev/null 2>&1 || need+=(systemd-container)
# The account page is tested in Debian's headless chromium, driven over
# the DevTools protocol; fonts-liberation gives its pages readable text in
# the screenshots the tests take.
[ -x /usr/bin/chromium ] || need+=(chromium)
[ -d /usr/share/fonts/truetype/liberation ] || need+=(fonts-liberation)
# ldapwhoami -Y PLAIN loads the mechanism from the Cyrus SASL plugins.
ls /usr/lib/*/sasl2/libplain.so >/dev/null 2>&1 || need+=(libsasl2-modules)
# The system services that installing would bring: only those, never a
# Dovecot, Postfix or slapd the machine already runs, are kept stopped.
fresh=()
command -v dovecot    >/dev/null 2>&1 || fresh+=(dovecot)
command -v postfix    >/dev/null 2>&1 || fresh+=(postfix)
# OpenLDAP's slapd plays the enterprise directory (an upstream) in the
# tests; its tools live in /usr/sbin, not on every user's PATH.
[ -x /usr/sbin/slapd ] || fresh+=(slapd)
[ -x /usr/sbin/slapd ]   || daemons+=(slapd)
[ -x /usr/sbin/slapadd ] || daemons+=(slapd)
command -v dovecot    >/dev/null 2>&1 || daemons+=(dovecot-core)
command -v doveadm    >/dev/null 2>&1 || daemons+=(dovecot-core)
[ -e /usr/lib/dovecot/imap-login ] || daemons+=(dovecot-imapd)
[ -e /usr/lib/dovecot/modules/auth/libauthdb_ldap.so ] || daemons+=(dovecot-ldap)
command -v postfix    >/dev/null 2>&1 || daemons+=(postfix)
command -v postmap    >/dev/null 2>&1 || daemons+=(postfix)
[ -e /usr/lib/postfix/postfix-ldap.so ] || daemons+=(postfix-ldap)

if [ ${#need[@]} -eq 0 ] && [ ${#daemons[@]} -eq 0 ]; then
  exit 0
fi
# shellcheck disable=SC2207 # package names have no spaces
all=($(printf '%s\n' "${need[@]}" "${daemons[@]}" | sort -u))
if [ "$(id -u)" -ne 0 ]; then
  echo "missing test dependencies: ${all[*]}" >&2
  echo "install them with: sudo apt-get install ${all[*]}" >&2
  echo "(postfix asks for a configuration: answer \"No configuration\"; slapd asks" >&2
  echo " whether to configure a directory: answer \"Omit OpenLDAP server configuration\";" >&2
  echo " then stop and disable the postfix, dovecot and slapd services the packages start)" >&2
  exit 1
fi
echo "installing test dependencies: ${all[*]}" >&2
export DEBIAN_FRONTEND=noninteractive

if [ ${#daemons[@]} -gt 0 ]; then
  # "No configuration" leaves /etc/postfix/main.cf unwritten, so no system
  # mail server is set up, and asks nothing.
  echo 'postfix postfix/main_mailer_type select No configuration' | debconf-set-selections
  # "Omit configuration": slapd's package writes no /etc/ldap/slapd.d and
  # no database, so there is no system directory to start.
  echo 'slapd slapd/no_configuration boolean true' | debconf-set-selections
  # policy-rc.d answering 101 keeps maintainer scripts from starting the
  # daemons (invoke-rc.d and deb-systemd-invoke both obey it). An existing
  # one is the machine's own business and is left alone.
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
    chmod 755 /usr/sbin/policy-rc.d
    trap 'rm -f /usr/sbin/policy-rc.d' EXIT
  fi
fi

apt-get update -qq
apt-get install -y -qq --no-install-recommends "${all[@]}" >/dev/null

# Belt and braces for machines where something started them anyway, and
# so that they do not come up at the next boot either.
for svc in "${fresh[@]}"; do
  if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
    units=("$svc.service")
    [ "$svc" = dovecot ] && units+=(dovecot.socket)
    systemctl disable --now "${units[@]}" >/dev/null 2>&1 || true
  elif [ -x "/etc/init.d/$svc" ]; then
    "/etc/init.d/$svc" stop >/dev/null 2>&1 || true
    if command -v update-rc.d >/dev/null 2>&1; then
      update-rc.d "$svc" disable >/dev/null 2>&1 || true
    fi
  fi
done
