#!/usr/bin/env bash
# Runs the same real LDAP clients against Debian's OpenLDAP slapd and
# against wicket, side by side, and prints what each server answered to
# each: one markdown table, client × operation, slapd | wicket | same?.
#
# Both servers are private instances on free 127.0.0.1 ports, with the same
# directory (the same LDIF: users with {SSHA} passwords, a service account,
# a groupOfNames group with memberOf on its member), StartTLS with one
# throw-away certificate, under a temporary directory removed at exit
# (unless --keep); both, and the private Apache, are stopped at exit, on a
# failure and on Ctrl-C too. The clients are the programs people run:
# ldapcompare, Apache httpd's mod_authnz_ldap, PHP's ldap extension,
# python3-ldap3 and python-ldap. Each gets the same arguments against both
# servers except the user's password: the primary password for slapd, and
# for wicket what its users type, an app password, or the password
# followed by a one-time code where the operation needs the primary
# password (Password Modify). See "The same clients against slapd" in
# README.md.
set -euo pipefail
export LC_ALL=C

usage() {
  cat <<'EOF'
usage: bench/clients.sh [--keep]

Sets up a private slapd and a private wicket on 127.0.0.1 with the same
directory, runs ldapcompare, Apache httpd (mod_authnz_ldap), PHP's ldap
extension, python3-ldap3 and python-ldap against each, and prints a table of
the results side by side.

  --keep      keep the work directory (configurations, logs, results)
  -h, --help  this text

Needs slapd, ldap-utils, apache2-bin, php-cli, php-ldap, python3-ldap,
python3-ldap3, oathtool, curl and jq from Debian's packages (installed when
missing and run as root) and Go to build wicket. Exits non-zero if any row
differs where the two servers should agree.
EOF
}

keep=0
while [ $# -gt 0 ]; do
  case $1 in
    --keep) keep=1; shift ;;
    -h|--help) usage; exit 0 ;;
    *) usage >&2; exit 2 ;;
  esac
done

die() { echo "clients.sh: $*" >&2; exit 1; }

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/.." && pwd)
base_dn="dc=example,dc=org"
people="ou=people,$base_dn"
groups="ou=groups,$base_dn"
# The same names on both servers: on slapd the service account is an
# account entry with read access (the ACL below), on wicket an account of
# role service, both under ou=people as wicket puts every account.
svc_dn="uid=svc,$people"
alice_dn="uid=alice,$people"
bob_dn="uid=bob,$people"
carol_dn="uid=carol,$people"
group_dn="cn=calendar,$groups"

# --- 1. Debian's packages -----------------------------------------------------

# shellcheck source=bench/lib.sh
. "$here/lib.sh"

slapd=/usr/sbin/slapd
slapadd=/usr/sbin/slapadd
apache=/usr/sbin/apache2
apache_modules=/usr/lib/apache2/modules
python=/usr/bin/python3

install_packages() {
  local need=()
  if [ ! -x "$slapd" ] || [ ! -x "$slapadd" ]; then need+=(slapd); fi
  command -v ldapcompare >/dev/null 2>&1 || need+=(ldap-utils)
  [ -e "$apache_modules/mod_authnz_ldap.so" ] || need+=(apache2-bin)
  command -v php >/dev/null 2>&1 || need+=(php-cli)
  php -r 'exit(function_exists("ldap_connect") ? 0 : 1);' >/dev/null 2>&1 || need+=(php-ldap)
  # Debian's own python3, with Debian's modules, whatever python3 comes
  # first in PATH.
  "$python" -c 'import ldap' >/dev/null 2>&1 || need+=(python3-ldap)
  "$python" -c 'import ldap3' >/dev/null 2>&1 || need+=(python3-ldap3)
  command -v oathtool >/dev/null 2>&1 || need+=(oathtool)
  command -v curl >/dev/null 2>&1 || need+=(curl)
  command -v jq >/dev/null 2>&1 || need+=(jq)
  install_debian_packages clients.sh "${need[@]}"
}
install_packages

# --- the work directory and what is stopped at exit ---------------------------

work=$(mktemp -d "${TMPDIR:-/tmp}/wicket-clients.XXXXXX")
slapd_pid=""
wicket_pid=""
apache_pid=""
stop_all() {
  stop "$apache_pid"
  stop "$wicket_pid"
  stop "$slapd_pid"
}
remove_at_exit

# No client reads the machine's or the user's LDAP settings (ldap.conf,
# ldaprc, a TLS_CACERT there): each gets what it needs on its command line.
export LDAPNOINIT=1

mkdir -p "$work/data" "$work/results"
# Secrets go into files of mode 0600, read by the clients, never onto a
# command line where ps would show them.
secret_file() { # FILE VALUE
  (umask 077 && printf '%s' "$2" >"$1")
}
random_hex() { od -An -N"$1" -tx1 /dev/urandom | tr -d ' \n'; }

# Waits until DN can bind with the password in PWFILE, or the server's
# process is gone.
wait_for_bind() { # NAME PID URL DN PWFILE LOG
  local name=$1 pid=$2 url=$3 dn=$4 pwfile=$5 log=$6 deadline=$((SECONDS + 60))
  until ldapwhoami -x -H "$url" -D "$dn" -y "$pwfile" >"$work/whoami.out" 2>&1; do
    if ! kill -0 "$pid" 2>/dev/null; then
      echo "clients.sh: $name exited during start-up; its log:" >&2
      cat "$log" >&2
      exit 1
    fi
    if ((SECONDS >= deadline)); then
      echo "clients.sh: $name does not accept a bind after 60 s; the last attempt and its log:" >&2
      cat "$work/whoami.out" "$log" >&2
      exit 1
    fi
    sleep 0.2
  done
}

# --- 2. wicket's binary and the certificate -----------------------------------

if ! command -v go >/dev/null 2>&1 && [ -x /usr/local/go/bin/go ]; then
  PATH=/usr/local/go/bin:$PATH
fi
command -v go >/dev/null 2>&1 || die "go is not installed (see README.md)"
echo "building wicket" >&2
(cd "$root" && go build -o "$work/wicket" ./cmd/wicket)
wicket=$work/wicket

# One throw-away certificate for both servers' StartTLS, its own trust
# anchor: the clients that use TLS name it as their CA file.
tls=$work/tls
"$wicket" cert selfsigned --out-dir "$tls" --host 127.0.0.1 --host localhost >"$work/cert.log" 2>&1 ||
  { cat "$work/cert.log" >&2; die "wicket cert selfsigned failed"; }
cert=$tls/tls-cert.pem
key=$tls/tls-key.pem

# --- 3. the directory -----------------------------------------------------------

# alice is in the group, bob is not, carol changes her password. Each has
# a random primary password, the same on both servers, stored as {SSHA}
# (salted SHA-1, as slappasswd writes it); so has the service account.
for u in alice bob carol svc; do
  secret_file "$work/data/$u.pw" "$(random_hex 12)"
done
carol_new=$(random_hex 12)
ssha() { # PWFILE
  perl -MDigest::SHA=sha1 -MMIME::Base64 -e '
    local $/; my $pw = <STDIN>;
    open(my $r, "<:raw", "/dev/urandom") or die "/dev/urandom: $!\n";
    read($r, my $salt, 8) == 8 or die "/dev/urandom: short read\n";
    print "{SSHA}", encode_base64(sha1($pw . $salt) . $salt, "")' <"$1"
}
person() { # UID CN SN
  cat <<EOF
dn: uid=$1,$people
objectClass: inetOrgPerson
uid: $1
cn: $2
sn: $3
displayName: $2
mail: $1@example.org
userPassword: $(ssha "$work/data/$1.pw")

EOF
}
{
  cat <<EOF
dn: $base_dn
objectClass: dcObject
objectClass: organization
dc: example
o: example

dn: $people
objectClass: organizationalUnit
ou: people

dn: $groups
objectClass: organizationalUnit
ou: groups

EOF
  person alice "Alice Liddell" Liddell
  person bob "Bob Cratchit" Cratchit
  person carol "Carol Danvers" Danvers
} >"$work/data/people.ldif"
cat >"$work/data/service.ldif" <<EOF
dn: $svc_dn
objectClass: account
objectClass: simpleSecurityObject
uid: svc
description: reads the directory, as Apache and Nextcloud do
userPassword: $(ssha "$work/data/svc.pw")

EOF
# Added through the running slapd rather than loaded offline: the memberof
# overlay writes alice's memberOf only on an LDAP add.
cat >"$work/data/group.ldif" <<EOF
dn: $group_dn
objectClass: groupOfNames
cn: calendar
member: $alice_dn

EOF

# --- 4. slapd -------------------------------------------------------------------

free_port slapd_port
slapd_url="ldap://127.0.0.1:$slapd_port"
sd=$work/slapd
mkdir -p "$sd/config" "$sd/data"
secret_file "$sd/admin.pw" "$(random_hex 16)"
# As Debian configures its own (cn=config, mdb), with the ACL of a mail
# directory: userPassword for binding and for its owner to change it
# (Password Modify needs write access), the rest readable by the service
# account and by each user on their own entry, as wicket has it. The root
# DSE and the subschema are readable by anyone, as Debian's default
# configuration has them. The rootdn only adds the group.
cat >"$sd/config.ldif" <<EOF
dn: cn=config
objectClass: olcGlobal
cn: config
olcPidFile: $sd/slapd.pid
olcArgsFile: $sd/slapd.args
olcLogLevel: none
olcTLSCertificateFile: $cert
olcTLSCertificateKeyFile: $key

dn: cn=module{0},cn=config
objectClass: olcModuleList
cn: module{0}
olcModulePath: /usr/lib/ldap
olcModuleLoad: back_mdb
olcModuleLoad: memberof

dn: cn=schema,cn=config
objectClass: olcSchemaConfig
cn: schema

include: file:///etc/ldap/schema/core.ldif

include: file:///etc/ldap/schema/cosine.ldif

include: file:///etc/ldap/schema/inetorgperson.ldif

dn: olcDatabase={-1}frontend,cn=config
objectClass: olcDatabaseConfig
objectClass: olcFrontendConfig
olcDatabase: {-1}frontend
olcAccess: {0}to dn.base="" by * read
olcAccess: {1}to dn.base="cn=Subschema" by * read

dn: olcDatabase={0}config,cn=config
objectClass: olcDatabaseConfig
olcDatabase: {0}config
olcAccess: {0}to * by * none

dn: olcDatabase={1}mdb,cn=config
objectClass: olcDatabaseConfig
objectClass: olcMdbConfig
olcDatabase: {1}mdb
olcSuffix: $base_dn
olcDbDirectory: $sd/data
olcDbMaxSize: 104857600
olcRootDN: cn=admin,$base_dn
olcRootPW: $(ssha "$sd/admin.pw")
olcDbIndex: objectClass eq
olcDbIndex: uid eq
olcDbIndex: mail eq
olcAccess: {0}to attrs=userPassword by self write by anonymous auth by * none
olcAccess: {1}to * by dn.exact="$svc_dn" read by self read by * none

dn: olcOverlay={0}memberof,olcDatabase={1}mdb,cn=config
objectClass: olcOverlayConfig
objectClass: olcMemberOf
olcOverlay: {0}memberof
olcMemberOfGroupOC: groupOfNames
olcMemberOfMemberAD: member
olcMemberOfMemberOfAD: memberOf
olcMemberOfRefInt: TRUE
EOF
{
  "$slapadd" -n0 -F "$sd/config" -l "$sd/config.ldif" &&
    "$slapadd" -q -F "$sd/config" -b "$base_dn" -l "$work/data/people.ldif" &&
    "$slapadd" -q -F "$sd/config" -b "$base_dn" -l "$work/data/service.ldif"
} >"$sd/slapadd.log" 2>&1 || { cat "$sd/slapadd.log" >&2; die "slapadd failed"; }
# -d 0: in the foreground (so that this script holds its process),
# printing nothing.
"$slapd" -d 0 -h "$slapd_url/" -F "$sd/config" >"$sd/slapd.log" 2>&1 &
slapd_pid=$!
wait_for_bind slapd "$slapd_pid" "$slapd_url" "$svc_dn" "$work/data/svc.pw" "$sd/slapd.log"
ldapadd -x -H "$slapd_url" -D "cn=admin,$base_dn" -y "$sd/admin.pw" -f "$work/data/group.ldif" >"$sd/ldapadd.log" 2>&1 ||
  { cat "$sd/ldapadd.log" >&2; die "ldapadd of the group to slapd failed"; }
echo "slapd: started on $slapd_url" >&2

# --- 5. wicket ------------------------------------------------------------------

free_port wicket_port
wicket_url="ldap://127.0.0.1:$wicket_port"
wd=$work/wicket-data
mkdir -p "$wd"
cat >"$wd/wicket.toml" <<EOF
listen   = "127.0.0.1:$wicket_port"
database = "$wd/wicket.db"
key_file = "$wd/wicket.key"
base_dn  = "$base_dn"

[log]
level = "warn"

[tls]
cert_file = "$cert"
key_file  = "$key"
EOF
wk() { "$wicket" --config "$wd/wicket.toml" "$@"; }
{
  # The same LDIF: each user signs in with the same primary password,
  # stored as argon2id at the first bind. The import keeps uid, mail and
  # the password; the names are set as the LDIF has them.
  wk user import "$work/data/people.ldif" &&
    wk user import --role service "$work/data/service.ldif" &&
    wk user set alice --display-name "Alice Liddell" --surname Liddell &&
    wk user set bob --display-name "Bob Cratchit" --surname Cratchit &&
    wk user set carol --display-name "Carol Danvers" --surname Danvers &&
    wk group add calendar &&
    wk group member-add calendar alice
} >"$wd/setup.log" 2>&1 || { cat "$wd/setup.log" >&2; die "setting up wicket's directory failed"; }
# Every user has TOTP, as wicket requires for app passwords; the seeds are
# kept to compute carol's codes.
for u in alice bob carol; do
  secret_file "$wd/$u.totp" "$(head -c 20 /dev/urandom | base32)"
  wk totp enroll "$u" --secret-file "$wd/$u.totp" >>"$wd/setup.log" 2>&1 ||
    { cat "$wd/setup.log" >&2; die "wicket totp enroll $u failed"; }
done
for u in alice bob; do
  wk --json apppw create "$u" --label "clients.sh" >"$wd/$u.apppw.json" 2>>"$wd/setup.log" ||
    { cat "$wd/setup.log" >&2; die "wicket apppw create $u failed"; }
  secret_file "$wd/$u.apppw" "$(jq -r .password "$wd/$u.apppw.json")"
  rm -f "$wd/$u.apppw.json"
done
"$wicket" --config "$wd/wicket.toml" serve >"$wd/wicket.log" 2>&1 &
wicket_pid=$!
wait_for_bind wicket "$wicket_pid" "$wicket_url" "$svc_dn" "$work/data/svc.pw" "$wd/wicket.log"
echo "wicket: started on $wicket_url" >&2

# totp_code SEEDFILE [OFFSET]: the code of the step OFFSET seconds from
# now, from oathtool (the seed on its standard input, not its command line).
totp_code() {
  oathtool --totp -b -N "@$(($(date +%s) + ${2:-0}))" - <"$1"
}

# What each user types, per server: slapd takes the primary password;
# wicket an app password (alice, bob) or, where only the primary password
# will do (carol's Password Modify), the password followed by a code.
creds() { # SERVER
  local c=$work/creds/$1
  mkdir -p "$c"
  secret_file "$c/svc" "$(cat "$work/data/svc.pw")"
  secret_file "$c/carol-old" "$(cat "$work/data/carol.pw")"
  secret_file "$c/carol-new" "$carol_new"
  if [ "$1" = slapd ]; then
    secret_file "$c/alice" "$(cat "$work/data/alice.pw")"
    secret_file "$c/bob" "$(cat "$work/data/bob.pw")"
  else
    secret_file "$c/alice" "$(cat "$wd/alice.apppw")"
    secret_file "$c/bob" "$(cat "$wd/bob.apppw")"
  fi
}
creds slapd
creds wicket

# carol_creds SERVER writes carol's two binds, made just before they are
# used: on wicket each code is accepted once and only a later step after
# it, so her bind with the new password takes the next step's code (the
# server accepts one step of drift).
carol_creds() {
  local c=$work/creds/$1
  if [ "$1" = slapd ]; then
    secret_file "$c/carol-bind" "$(cat "$work/data/carol.pw")"
    secret_file "$c/carol-new-bind" "$carol_new"
  else
    secret_file "$c/carol-bind" "$(cat "$work/data/carol.pw")$(totp_code "$wd/carol.totp")"
    secret_file "$c/carol-new-bind" "$carol_new$(totp_code "$wd/carol.totp" 30)"
  fi
}

# --- 6. Apache httpd --------------------------------------------------------------

# One private Apache, with a location for each server and each Require
# (generated from one block, so both servers get the same configuration),
# mod_ldap's caches off as deploy/apache/wicket-dav.conf has them: every
# request is a bind and, for ldap-group and ldap-attribute, a compare, as
# the service account.
free_port apache_port
ad=$work/apache
mkdir -p "$ad"
apache_user=""
if [ "$(id -u)" -eq 0 ]; then
  # Apache starts its children as User, which must not be root; they need
  # only the loopback sockets, no file under the work directory.
  apache_user="User nobody
Group $(id -gn nobody)"
fi
{
  cat <<EOF
ServerRoot "$ad"
ServerName 127.0.0.1
Listen 127.0.0.1:$apache_port
PidFile "$ad/httpd.pid"
DefaultRuntimeDir "$ad"
ErrorLog "$ad/error.log"
LogLevel warn authnz_ldap:info
$apache_user
LoadModule mpm_event_module $apache_modules/mod_mpm_event.so
LoadModule authn_core_module $apache_modules/mod_authn_core.so
LoadModule authz_core_module $apache_modules/mod_authz_core.so
LoadModule authz_user_module $apache_modules/mod_authz_user.so
LoadModule auth_basic_module $apache_modules/mod_auth_basic.so
LoadModule ldap_module $apache_modules/mod_ldap.so
LoadModule authnz_ldap_module $apache_modules/mod_authnz_ldap.so
LoadModule status_module $apache_modules/mod_status.so

StartServers 1
ServerLimit 1
ThreadLimit 8
ThreadsPerChild 8
MaxRequestWorkers 8
MinSpareThreads 1
MaxSpareThreads 8

LDAPCacheEntries 0
LDAPOpCacheEntries 0
EOF
  for server in slapd wicket; do
    if [ "$server" = slapd ]; then url=$slapd_url; else url=$wicket_url; fi
    while IFS='|' read -r path require; do
      # People only, as deploy/apache/wicket-dav.conf finds them: the
      # service account (objectClass account on both) binds with its
      # password alone and must not sign in. (wicket's example also
      # excludes wicketRole=service, an attribute slapd does not know.)
      # server-status answers 200 with no file behind it: whatever reaches
      # the handler has passed the Require.
      cat <<EOF

<Location "/$server/$path/">
    AuthType Basic
    AuthName "$server $path"
    AuthBasicProvider ldap
    AuthLDAPURL "$url/$people?uid?sub?(objectClass=inetOrgPerson)"
    AuthLDAPBindDN "$svc_dn"
    AuthLDAPBindPassword "$(cat "$work/data/svc.pw")"
    $require
    SetHandler server-status
</Location>
EOF
    done <<EOF
valid-user|Require valid-user
ldap-group|Require ldap-group $group_dn
ldap-attribute|Require ldap-attribute mail=alice@example.org
ldap-filter|Require ldap-filter memberOf=$group_dn
EOF
  done
} >"$ad/httpd.conf"
chmod 600 "$ad/httpd.conf"
"$apache" -t -f "$ad/httpd.conf" >"$ad/configtest.log" 2>&1 ||
  { cat "$ad/configtest.log" >&2; die "apache2 -t failed"; }
"$apache" -f "$ad/httpd.conf" -DFOREGROUND >"$ad/stdout.log" 2>&1 &
apache_pid=$!
deadline=$((SECONDS + 60))
until curl -s -o /dev/null "http://127.0.0.1:$apache_port/"; do
  kill -0 "$apache_pid" 2>/dev/null || { cat "$ad/stdout.log" "$ad/error.log" >&2; die "apache2 exited during start-up"; }
  ((SECONDS < deadline)) || { cat "$ad/error.log" >&2; die "apache2 does not answer after 60 s"; }
  sleep 0.2
done
echo "apache2: started on 127.0.0.1:$apache_port" >&2

# --- 7. the client programs ---------------------------------------------------------

# Each prints one line per check, "name<TAB>result", the result normalised
# so that the two servers' answers compare as strings: TRUE/FALSE, an HTTP
# status, "ok", a value read, or "rc=N" for an LDAP result code, which
# result_name below spells out.

# PHP's ldap extension as Nextcloud's user_ldap uses it: bind as the
# service account, find the user by uid and by mail, read the entryUUID it
# maps users by and search for it, bind as the user on a connection of its
# own, and ask the group with ldap_compare.
cat >"$work/nextcloud.php" <<'EOF'
<?php
[, $url, $base, $svcDN, $svcFile, $userDN, $userFile, $otherDN, $groupDN] = $argv;
function out(string $name, $value) { echo "$name\t$value\n"; }
function conn(string $url) {
    $c = ldap_connect($url);
    ldap_set_option($c, LDAP_OPT_PROTOCOL_VERSION, 3);
    ldap_set_option($c, LDAP_OPT_REFERRALS, 0);
    ldap_set_option($c, LDAP_OPT_NETWORK_TIMEOUT, 10);
    return $c;
}
function rc($c) { return 'rc=' . ldap_errno($c); }
// The uid values of what a search under ou=people finds.
function find($c, string $base, string $filter): string {
    $sr = @ldap_search($c, "ou=people,$base", $filter, ['uid']);
    if ($sr === false) return rc($c);
    $uids = [];
    foreach (ldap_get_entries($c, $sr) as $k => $e) {
        if ($k !== 'count') $uids[] = $e['uid'][0];
    }
    return $uids ? implode(',', $uids) : 'no entry';
}
$c = conn($url);
out('bind-service', @ldap_bind($c, $svcDN, file_get_contents($svcFile)) ? 'ok' : rc($c));
out('search-uid', find($c, $base, '(&(objectClass=inetOrgPerson)(uid=alice))'));
out('search-mail', find($c, $base, '(&(objectClass=inetOrgPerson)(mail=alice@example.org))'));
$uuid = null;
$sr = @ldap_read($c, $userDN, '(objectClass=*)', ['memberOf', 'entryUUID']);
if ($sr === false) {
    out('memberof', rc($c));
    out('entryuuid', rc($c));
} else {
    $e = ldap_get_entries($c, $sr)[0];
    out('memberof', implode(',', array_filter($e['memberof'] ?? ['none'], 'is_string')));
    $uuid = $e['entryuuid'][0] ?? null;
    out('entryuuid', $uuid === null ? 'none' :
        (preg_match('/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i', $uuid) ? 'a UUID' : "not a UUID: $uuid"));
}
out('search-entryuuid', $uuid === null ? 'no UUID to search for' :
    find($c, $base, '(entryUUID=' . ldap_escape($uuid, '', LDAP_ESCAPE_FILTER) . ')'));
$password = file_get_contents($userFile);
$u = conn($url);
out('bind-user', @ldap_bind($u, $userDN, $password) ? 'ok' : rc($u));
$u = conn($url);
out('bind-user-wrong', @ldap_bind($u, $userDN, "x$password") ? 'ok' : rc($u));
foreach (['compare-member' => $userDN, 'compare-other' => $otherDN] as $name => $dn) {
    $r = @ldap_compare($c, $groupDN, 'member', $dn);
    out($name, $r === true ? 'TRUE' : ($r === false ? 'FALSE' : rc($c)));
}
EOF

# python3-ldap3 with a default Server(), which reads the root DSE and the
# schema at every bind and checks every attribute name against it: two
# connections in a row, then StartTLS, a search and compares.
cat >"$work/ldap3_client.py" <<'EOF'
import ssl, sys
from ldap3 import Server, Connection, Tls, SUBTREE
from ldap3.core.exceptions import LDAPException

url, ca, base, svc_dn, svc_file, user_dn, user_file, user_mail = sys.argv[1:9]
svc_pw, user_pw = open(svc_file).read(), open(user_file).read()
server = Server(url, tls=Tls(ca_certs_file=ca, validate=ssl.CERT_REQUIRED))

def out(name, value):
    print('%s\t%s' % (name, value), flush=True)

def check(name, f):
    try:
        out(name, f())
    except LDAPException as e:
        out(name, type(e).__name__)

def first():
    c = Connection(server, svc_dn, svc_pw, auto_bind=True)
    c.search('ou=people,' + base, '(uid=alice)', SUBTREE, attributes=['uid', 'mail', 'cn', 'memberOf'])
    found = ','.join(str(e.uid) for e in c.entries) or 'no entry'
    c.unbind()
    return found

def second():
    c = Connection(server, user_dn, user_pw, auto_bind=True)
    who = c.extend.standard.who_am_i()
    c.unbind()
    return who

def start_tls():
    c = Connection(server, user_dn, user_pw)
    c.open()
    if not c.start_tls():
        return 'start_tls: ' + c.result['description']
    if not c.bind():
        return 'bind: ' + c.result['description']
    who = c.extend.standard.who_am_i()
    c.unbind()
    return 'ok, ' + who

def compare(value):
    def f():
        c = Connection(server, user_dn, user_pw, auto_bind=True)
        c.compare(user_dn, 'mail', value)
        r = c.result['description']
        c.unbind()
        return r
    return f

check('search', first)
check('second-connection', second)
check('start-tls', start_tls)
check('compare-true', compare(user_mail))
check('compare-false', compare('someone@example.org'))
EOF

# python-ldap as a web application changes a user's password: bind as the
# user, who am I, passwd_s with the old and the new password, then a bind
# with the new one on a connection of its own.
cat >"$work/pythonldap_client.py" <<'EOF'
import sys, ldap

url, dn, bind_file, old_file, new_file, new_bind_file = sys.argv[1:7]
pw = {n: open(f).read() for n, f in
      (('bind', bind_file), ('old', old_file), ('new', new_file), ('new_bind', new_bind_file))}

def out(name, value):
    print('%s\t%s' % (name, value), flush=True)

def check(name, f):
    try:
        out(name, f())
    except ldap.LDAPError as e:
        info = e.args[0] if e.args and isinstance(e.args[0], dict) else {}
        out(name, 'rc=%d' % info['result'] if 'result' in info else type(e).__name__)

l = ldap.initialize(url)
check('bind', lambda: l.simple_bind_s(dn, pw['bind']) and 'ok')
check('whoami', l.whoami_s)
check('passwd', lambda: repr(l.passwd_s(dn, pw['old'], pw['new'])))
def new_bind():
    n = ldap.initialize(url)
    n.simple_bind_s(dn, pw['new_bind'])
    return n.whoami_s()
check('new-password-bind', new_bind)
EOF

# --- 8. the clients against each server ---------------------------------------------

# ldapcompare exits 6 for TRUE, 5 for FALSE, and with the result code of a
# failure. It takes the value compared on its command line only, so alice's
# password compared with userPassword shows in ps while it runs: a
# password of this throw-away directory, which nothing else knows.
compare_check() { # NAME URL DN PWFILE ENTRY ATTR VALUE
  local rc=0
  ldapcompare -x -H "$2" -D "$3" -y "$4" "$5" "$6:$7" >"$work/compare.out" 2>&1 || rc=$?
  case $rc in
    6) printf '%s\tTRUE\n' "$1" ;;
    5) printf '%s\tFALSE\n' "$1" ;;
    32)
      # noSuchObject names the closest entry that exists (RFC 4511 4.1.9).
      printf '%s\trc=32, matched %s\n' "$1" "$(sed -n 's/^Matched DN: //p' "$work/compare.out")" ;;
    *) printf '%s\trc=%d\n' "$1" "$rc" ;;
  esac
}

# http_check NAME SERVER PATH USER PWFILE: the status of a request with
# HTTP Basic credentials, given to curl in a file of its own.
http_check() {
  (umask 077 && printf 'user = "%s:%s"\n' "$4" "$(cat "$5")" >"$work/curl.conf")
  printf '%s\t%s\n' "$1" "$(curl -s -o /dev/null -w '%{http_code}' -K "$work/curl.conf" \
    "http://127.0.0.1:$apache_port/$2/$3/")"
  rm -f "$work/curl.conf"
}

run_clients() { # SERVER URL
  # Nor any file under the user's home: the clients get the work directory
  # as theirs.
  local HOME=$work
  export HOME
  local s=$1 url=$2 c=$work/creds/$1 r=$work/results/$1
  mkdir -p "$r"
  echo "running the clients against $s" >&2
  {
    compare_check member "$url" "$svc_dn" "$c/svc" "$group_dn" member "$alice_dn"
    compare_check non-member "$url" "$svc_dn" "$c/svc" "$group_dn" member "$bob_dn"
    compare_check missing "$url" "$svc_dn" "$c/svc" "$alice_dn" telephoneNumber "+1 555 0100"
    compare_check missing-entry "$url" "$svc_dn" "$c/svc" "uid=nobody,$people" cn nobody
    compare_check password-service "$url" "$svc_dn" "$c/svc" "$alice_dn" userPassword "$(cat "$work/data/alice.pw")"
    compare_check password-self "$url" "$alice_dn" "$c/alice" "$alice_dn" userPassword "$(cat "$work/data/alice.pw")"
  } >"$r/ldapcompare"
  printf 'x-wrong-password' >"$work/wrong.pw"
  {
    http_check valid-user "$s" valid-user alice "$c/alice"
    http_check valid-user-wrong "$s" valid-user alice "$work/wrong.pw"
    http_check valid-user-unknown "$s" valid-user mallory "$c/alice"
    http_check valid-user-service "$s" valid-user svc "$c/svc"
    http_check group-member "$s" ldap-group alice "$c/alice"
    http_check group-non-member "$s" ldap-group bob "$c/bob"
    http_check attribute-match "$s" ldap-attribute alice "$c/alice"
    http_check attribute-other "$s" ldap-attribute bob "$c/bob"
    http_check filter-member "$s" ldap-filter alice "$c/alice"
    http_check filter-non-member "$s" ldap-filter bob "$c/bob"
  } >"$r/apache"
  php "$work/nextcloud.php" "$url" "$base_dn" "$svc_dn" "$c/svc" "$alice_dn" "$c/alice" "$bob_dn" "$group_dn" \
    >"$r/php" 2>"$r/php.err" || true
  "$python" "$work/ldap3_client.py" "$url" "$cert" "$base_dn" "$svc_dn" "$c/svc" "$alice_dn" "$c/alice" \
    alice@example.org >"$r/python3-ldap3" 2>"$r/python3-ldap3.err" || true
  carol_creds "$s"
  "$python" "$work/pythonldap_client.py" "$url" "$carol_dn" "$c/carol-bind" "$c/carol-old" "$c/carol-new" \
    "$c/carol-new-bind" >"$r/python-ldap" 2>"$r/python-ldap.err" || true
}
run_clients slapd "$slapd_url"
run_clients wicket "$wicket_url"

# --- 9. the table ---------------------------------------------------------------------

result_name() {
  case $1 in
    rc=0) echo "success (0)" ;;
    rc=16) echo "noSuchAttribute (16)" ;;
    rc=17) echo "undefinedAttributeType (17)" ;;
    rc=18) echo "inappropriateMatching (18)" ;;
    rc=32) echo "noSuchObject (32)" ;;
    rc=32,*) echo "noSuchObject (32)${1#rc=32}" ;;
    rc=49) echo "invalidCredentials (49)" ;;
    rc=50) echo "insufficientAccessRights (50)" ;;
    rc=53) echo "unwillingToPerform (53)" ;;
    rc=*) echo "result ${1#rc=}" ;;
    '') echo "(nothing)" ;;
    *) echo "$1" ;;
  esac
}

# result SERVER CLIENT CHECK: what the client printed for the check.
result() {
  local v
  v=$(awk -F'\t' -v k="$3" '$1 == k { sub(/^[^\t]*\t/, ""); print; exit }' "$work/results/$1/$2" 2>/dev/null || true)
  result_name "$v"
}

# row CLIENT CHECK "OPERATION" WANT ["REASON"]: one line of the table.
# WANT is what both must answer (empty: only that they agree). REASON
# makes a difference intended: the row does not fail, and WANT is then
# what wicket must answer.
failed=0
rows=()
row() {
  local client=$1 check=$2 op=$3 want=$4 reason=${5:-} s w same
  s=$(result slapd "$client" "$check")
  w=$(result wicket "$client" "$check")
  want=$(result_name "$want")
  if [ -n "$reason" ]; then
    if [ "$s" = "$w" ]; then
      same=yes
    elif [ "$w" = "$want" ]; then
      same="intended: $reason"
    else
      same="NO (wicket should answer $want)"
      failed=1
    fi
  elif [ "$s" != "$w" ]; then
    same=NO
    failed=1
  elif [ "$want" != "(nothing)" ] && [ "$s" != "$want" ]; then
    same="NO (both should answer $want)"
    failed=1
  else
    same=yes
  fi
  rows+=("| $client | $op | $s | $w | $same |")
}

row ldapcompare member "group's member: alice, a member" TRUE
row ldapcompare non-member "group's member: bob, not a member" FALSE
row ldapcompare missing "telephoneNumber, which alice lacks" rc=16
row ldapcompare missing-entry "an entry that does not exist" "rc=32, matched $people"
row ldapcompare password-service "alice's userPassword, as the service account" rc=50
row ldapcompare password-self "alice's userPassword, as alice" rc=50 \
  "wicket never compares a secret; slapd compares the value with the stored {SSHA} string"
row apache valid-user "Require valid-user, right password" 200
row apache valid-user-wrong "Require valid-user, wrong password" 401
row apache valid-user-unknown "Require valid-user, unknown user" 401
row apache valid-user-service "Require valid-user, the service account's password" 401
row apache group-member "Require ldap-group, member" 200
row apache group-non-member "Require ldap-group, non-member" 401
row apache attribute-match "Require ldap-attribute mail=, hers" 200
row apache attribute-other "Require ldap-attribute mail=, another's" 401
row apache filter-member "Require ldap-filter memberOf=, member" 200
row apache filter-non-member "Require ldap-filter memberOf=, non-member" 401
row php bind-service "ldap_bind, service account" ok
row php search-uid "search (uid=alice)" alice
row php search-mail "search (mail=alice@example.org)" alice
row php memberof "read alice's memberOf" "$group_dn"
row php entryuuid "read alice's entryUUID" "a UUID"
row php search-entryuuid "search (entryUUID=<hers>)" alice
row php bind-user "ldap_bind as alice" ok
row php bind-user-wrong "ldap_bind as alice, wrong password" rc=49
row php compare-member "ldap_compare member, alice" TRUE
row php compare-other "ldap_compare member, bob" FALSE
row python3-ldap3 search "1st connection: service bind, search" alice
row python3-ldap3 second-connection "2nd connection: alice, who am I" "dn:$alice_dn"
row python3-ldap3 start-tls "3rd connection: start_tls, bind, who am I" "ok, dn:$alice_dn"
row python3-ldap3 compare-true "compare own mail, hers" compareTrue
row python3-ldap3 compare-false "compare own mail, another" compareFalse
row python-ldap bind "simple_bind_s as carol" ok
row python-ldap whoami "whoami_s" "dn:$carol_dn"
row python-ldap passwd "passwd_s(dn, old, new)" "(None, None)"
row python-ldap new-password-bind "bind with the new password, whoami_s" "dn:$carol_dn"

echo
echo "| client | operation | slapd | wicket | same? |"
echo "| --- | --- | --- | --- | --- |"
printf '%s\n' "${rows[@]}"

slapd_version=$({ "$slapd" -VV 2>&1 || true; } | sed -n 's/.*slapd \([^ ]*\) .*/\1/p' | head -n 1)
echo
echo "slapd $slapd_version; users bind to slapd with their password, to wicket with an app password"
echo "(carol: her password and a one-time code)."
if grep -q . "$wd/wicket.log"; then
  echo
  echo "wicket logged $(grep -c . "$wd/wicket.log") line(s) at level warn or above; the first:"
  head -n 3 "$wd/wicket.log"
fi
for f in "$work"/results/*/*.err; do
  if [ -s "$f" ]; then
    echo
    echo "${f#"$work"/results/}:"
    cat "$f"
  fi
done
exit "$failed"
