#!/usr/bin/env bash
# Benchmarks wicket against Debian's OpenLDAP slapd on this machine, in the
# same run, with the same users, the same load tool (`wicket bench`) and the
# same load, and prints one table of both.
#
# Both servers are private instances on free 127.0.0.1 ports, configured and
# filled under a temporary directory that is removed at exit (unless --keep);
# both are stopped at exit, on failure and on Ctrl-C too. slapd binds each
# user with their primary password ({SSHA}), wicket with the user's app
# password: each server's way for a mail client to bind. Lookups are made
# as a service account bound once per connection, as Postfix's tables do.
# See "Benchmark against slapd" in README.md.
set -euo pipefail
# Numbers are printed and parsed with a decimal point whatever the locale.
export LC_ALL=C

usage() {
  cat <<'EOF'
usage: bench/compare.sh [options]

Runs the same load against a private slapd and a private wicket on 127.0.0.1
and prints ops/s and latency side by side.

  --users N          users in both directories (default 1000)
  --bind-users M     of them, the users who bind in the bind modes, spread
                     over all N; wicket gives them TOTP and an app password
                     (default the smaller of N and 1000)
  --concurrency C    connections of the load tool (default 16)
  --duration D       measured time per run, a Go duration (default 10s)
  --warmup D         unmeasured load before each run (default 2s)
  --modes "M ..."    among bind, connect-bind, bind-search, lookup (default
                     all four); lookup binds once as a service account and
                     looks users up by mail address, over all N users
  --rounds N         runs per server and mode, the order alternating; the run
                     with the most ops/s of each is kept (default 1)
  --out DIR          also write the JSON reports, the table and both
                     configurations to DIR
  --keep             keep the work directory (databases, logs) for inspection
  -h, --help         this text

Needs slapd, ldap-utils and jq from Debian's packages (installed when missing
and run as root) and Go to build wicket. Exits non-zero if any operation
failed, after printing the table.
EOF
}

users=1000
bind_users=""
concurrency=16
duration=10s
warmup=2s
modes="bind connect-bind bind-search lookup"
rounds=1
out=""
keep=0

die() { echo "compare.sh: $*" >&2; exit 1; }
need_value() {
  if [ $# -lt 2 ] || [ -z "$2" ]; then die "$1 needs a value (see --help)"; fi
}

while [ $# -gt 0 ]; do
  case $1 in
    --users) need_value "$@"; users=$2; shift 2 ;;
    --bind-users) need_value "$@"; bind_users=$2; shift 2 ;;
    --concurrency) need_value "$@"; concurrency=$2; shift 2 ;;
    --duration) need_value "$@"; duration=$2; shift 2 ;;
    --warmup) need_value "$@"; warmup=$2; shift 2 ;;
    --modes) need_value "$@"; modes=$2; shift 2 ;;
    --rounds) need_value "$@"; rounds=$2; shift 2 ;;
    --out) need_value "$@"; out=$2; shift 2 ;;
    --keep) keep=1; shift ;;
    -h|--help) usage; exit 0 ;;
    *) usage >&2; exit 2 ;;
  esac
done

is_count() { [[ $1 =~ ^[1-9][0-9]*$ ]]; }
is_count "$users" || die "--users: $users is not a positive number"
if [ -z "$bind_users" ]; then
  bind_users=$((users < 1000 ? users : 1000))
fi
is_count "$bind_users" || die "--bind-users: $bind_users is not a positive number"
((bind_users <= users)) || die "--bind-users: $bind_users is more than the $users users (--users)"
is_count "$concurrency" || die "--concurrency: $concurrency is not a positive number"
is_count "$rounds" || die "--rounds: $rounds is not a positive number"
# A Go duration, as the load tool takes it: 10s, 1m30s, 500ms, 0.
is_duration() { [[ $1 =~ ^(0|([0-9]+(\.[0-9]+)?(ns|us|ms|s|m|h))+)$ ]]; }
is_duration "$duration" || die "--duration: $duration is not a duration such as 10s or 1m"
is_duration "$warmup" || die "--warmup: $warmup is not a duration such as 2s or 0s"
read -r -a mode_list <<<"$modes"
[ ${#mode_list[@]} -gt 0 ] || die "--modes: no mode given"
# binding: a mode binds as the users, who then need credentials.
binding=0
for m in "${mode_list[@]}"; do
  case $m in
    bind|connect-bind|bind-search) binding=1 ;;
    lookup) ;;
    *) die "--modes: unknown mode $m (bind, connect-bind, bind-search, lookup)" ;;
  esac
done

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/.." && pwd)
base_dn="dc=example,dc=org"
people="ou=people,$base_dn"
# lookup's search, as a Postfix table asks it: one user's mail address.
lookup_filter='(mail=%u@example.org)'
# The service accounts lookup binds as: on slapd an entry of its own with
# read access (the ACL below), on wicket an account of role service.
slapd_service_dn="cn=postfix,$base_dn"
wicket_service_dn="uid=postfix,$people"

# --- 1. Debian's packages ---------------------------------------------------

# shellcheck source=bench/lib.sh
. "$here/lib.sh"

# slapd's tools live in /usr/sbin, which is not on every user's PATH.
slapd=/usr/sbin/slapd
slapadd=/usr/sbin/slapadd

install_packages() {
  local need=()
  if [ ! -x "$slapd" ] || [ ! -x "$slapadd" ]; then need+=(slapd); fi
  command -v ldapwhoami >/dev/null 2>&1 || need+=(ldap-utils)
  command -v jq >/dev/null 2>&1 || need+=(jq)
  install_debian_packages compare.sh "${need[@]}"
}
install_packages

# --- the work directory and what is stopped at exit -------------------------

work=$(mktemp -d "${TMPDIR:-/tmp}/wicket-compare.XXXXXX")
slapd_pid=""
wicket_pid=""

stop_all() {
  stop "$wicket_pid"
  stop "$slapd_pid"
}
remove_at_exit

# Both servers and the load tool get the same, highest allowed, descriptor
# limit.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

now() { echo "$EPOCHREALTIME"; }
since() { awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }'; }


# Waits until DN can bind with PASSWORD, or the server's process is gone.
# The time allowed is generous: on a busy machine a start can be slow, and
# a large directory slower (2 minutes, and a second more per 1,000 users).
# The password goes to ldapwhoami in a file (-y, its whole content, so no
# newline), not on its command line, where ps would show it.
start_timeout=$((120 + users / 1000))
wait_for_bind() { # NAME PID URL DN PASSWORD LOG
  local name=$1 pid=$2 url=$3 dn=$4 pw=$5 log=$6 deadline=$((SECONDS + start_timeout))
  (umask 077 && printf '%s' "$pw" >"$work/whoami.pw")
  until ldapwhoami -x -H "$url" -D "$dn" -y "$work/whoami.pw" >"$work/whoami.out" 2>&1; do
    if ! kill -0 "$pid" 2>/dev/null; then
      echo "compare.sh: $name exited during start-up; its log:" >&2
      cat "$log" >&2
      exit 1
    fi
    if ((SECONDS >= deadline)); then
      echo "compare.sh: $name does not accept a bind after $start_timeout s; the last attempt and its log:" >&2
      cat "$work/whoami.out" "$log" >&2
      exit 1
    fi
    sleep 0.2
  done
}

# Looks the last user up as the service account DN, whose password is in
# the file PWFILE, and fails unless that finds the entry: a server that
# builds what it answers lookups from after it accepts binds has then built
# it, so that the time to start includes it and no measured run does.
first_lookup() { # NAME URL DN PWFILE LOG
  local name=$1 url=$2 dn=$3 pwfile=$4 log=$5
  if ! ldapsearch -x -LLL -H "$url" -D "$dn" -y "$pwfile" -b "$people" \
    "(mail=user$(printf '%04d' "$users")@example.org)" uid >"$work/search.out" 2>&1 ||
    ! grep -q '^uid: ' "$work/search.out"; then
    echo "compare.sh: $name does not find the last user by mail; the answer and its log:" >&2
    cat "$work/search.out" "$log" >&2
    exit 1
  fi
}

# --- 2. wicket, with its load tool ------------------------------------------

if ! command -v go >/dev/null 2>&1 && [ -x /usr/local/go/bin/go ]; then
  PATH=/usr/local/go/bin:$PATH
fi
command -v go >/dev/null 2>&1 || die "go is not installed (see README.md)"
echo "building wicket" >&2
(cd "$root" && go build -o "$work/wicket" ./cmd/wicket)
wicket=$work/wicket
"$wicket" bench --help >/dev/null 2>&1 || die "this wicket has no 'bench' command (the load tool)"

# --- 3. the users -----------------------------------------------------------

# One LDIF for both servers: each user with a random password of their own,
# stored as {SSHA} (salted SHA-1, as OpenLDAP's slappasswd writes it), in one
# process whatever the number of users (100,000 take well under a second).
# Perl and its Digest::SHA come with slapd (a dependency of the package).
# Written beside it: the names of all users (for lookup), and the users who
# bind, every (N / M)th, with their primary password (slapd's binds) and
# their names alone (for wicket's credentials); and slapd's service account
# with its password.
t=$(now)
mkdir -p "$work/data"
perl -e '
  use strict; use warnings;
  use Digest::SHA qw(sha1); use MIME::Base64 qw(encode_base64);
  my ($n, $m, $base, $people, $service, $dir) = @ARGV;
  open(my $rnd, "<:raw", "/dev/urandom") or die "/dev/urandom: $!\n";
  sub random { my $b; read($rnd, $b, $_[0]) == $_[0] or die "/dev/urandom: short read\n"; $b }
  sub ssha { my $salt = random(8); "{SSHA}" . encode_base64(sha1($_[0] . $salt) . $salt, "") }
  sub out { open(my $f, ">", "$dir/$_[0]") or die "$dir/$_[0]: $!\n"; $f }
  my ($ldif, $names, $binders, $bind_names) =
    map { out($_) } ("people.ldif", "names.txt", "slapd-users.tsv", "bind-names.txt");
  my ($dc) = $base =~ /^dc=([^,]+)/;
  print $ldif "dn: $base\nobjectClass: dcObject\nobjectClass: organization\ndc: $dc\no: $dc\n\n";
  print $ldif "dn: $people\nobjectClass: organizationalUnit\nou: people\n\n";
  my $step = int($n / $m);
  my $bound = 0;
  for my $i (1 .. $n) {
    my $uid = sprintf("user%04d", $i);
    my $pw = unpack("H*", random(10));
    print $ldif "dn: uid=$uid,$people\nobjectClass: inetOrgPerson\nuid: $uid\n",
      "cn: User $i\nsn: $i\nmail: $uid\@example.org\nuserPassword: ", ssha($pw), "\n\n";
    print $names "$uid\n";
    if ($bound < $m && ($i - 1) % $step == 0) {
      print $binders "uid=$uid,$people\t$pw\n";
      print $bind_names "$uid\n";
      $bound++;
    }
  }
  my $svc_pw = unpack("H*", random(16));
  my ($svc_cn) = $service =~ /^cn=([^,]+)/;
  my $svc = out("slapd-service.ldif");
  print $svc "dn: $service\nobjectClass: organizationalRole\nobjectClass: simpleSecurityObject\n",
    "cn: $svc_cn\ndescription: reads the directory, as Postfix does\nuserPassword: ", ssha($svc_pw), "\n\n";
  my $svc_pw_file = out("slapd-service.pw");
  print $svc_pw_file $svc_pw;
  close($_) or die "$!\n" for ($ldif, $names, $binders, $bind_names, $svc, $svc_pw_file);
' "$users" "$bind_users" "$base_dn" "$people" "$slapd_service_dn" "$work/data"
chmod 600 "$work/data/slapd-service.pw"
t_generate=$(since "$t")
echo "generated $users users with {SSHA} passwords ($bind_users of them to bind) in $t_generate s" >&2

# --- 4. slapd ---------------------------------------------------------------

free_port slapd_port
slapd_url="ldap://127.0.0.1:$slapd_port/"
sd=$work/slapd
mkdir -p "$sd/config" "$sd/data"
# As Debian configures its own (cn=config, mdb, log level none, no thread
# count, so slapd's default of 16), with the ACL of a mail directory:
# passwords only for binding, everything else readable once bound.
cat >"$sd/config.ldif" <<EOF
dn: cn=config
objectClass: olcGlobal
cn: config
olcPidFile: $sd/slapd.pid
olcArgsFile: $sd/slapd.args
olcLogLevel: none

dn: cn=module{0},cn=config
objectClass: olcModuleList
cn: module{0}
olcModulePath: /usr/lib/ldap
olcModuleLoad: back_mdb

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
olcSizeLimit: 500

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
olcDbMaxSize: 1073741824
olcDbIndex: objectClass eq
olcDbIndex: uid eq
olcDbIndex: mail eq
olcAccess: {0}to attrs=userPassword by anonymous auth by self write by * none
olcAccess: {1}to * by users read by * none
EOF
# Loaded offline with slapadd -q (no per-entry checks, one transaction per
# many entries), much faster than ldapadd through a running server.
t=$(now)
"$slapadd" -n0 -F "$sd/config" -l "$sd/config.ldif" >"$sd/slapadd.log" 2>&1 ||
  { cat "$sd/slapadd.log" >&2; die "slapadd of the configuration failed"; }
"$slapadd" -q -F "$sd/config" -b "$base_dn" -l "$work/data/people.ldif" >>"$sd/slapadd.log" 2>&1 ||
  { cat "$sd/slapadd.log" >&2; die "slapadd of the users failed"; }
"$slapadd" -q -F "$sd/config" -b "$base_dn" -l "$work/data/slapd-service.ldif" >>"$sd/slapadd.log" 2>&1 ||
  { cat "$sd/slapadd.log" >&2; die "slapadd of the service account failed"; }
t_slapd_load=$(since "$t")
t=$(now)
# -d 0: in the foreground (so that this script holds its process), and
# printing nothing.
"$slapd" -d 0 -h "$slapd_url" -F "$sd/config" >"$sd/slapd.log" 2>&1 &
slapd_pid=$!
wait_for_bind slapd "$slapd_pid" "$slapd_url" "$slapd_service_dn" "$(cat "$work/data/slapd-service.pw")" "$sd/slapd.log"
IFS=$'\t' read -r first_dn first_pw <"$work/data/slapd-users.tsv"
wait_for_bind slapd "$slapd_pid" "$slapd_url" "$first_dn" "$first_pw" "$sd/slapd.log"
first_lookup slapd "$slapd_url" "$slapd_service_dn" "$work/data/slapd-service.pw" "$sd/slapd.log"
t_slapd_start=$(since "$t")
echo "slapd: $users users and the service account loaded with slapadd in $t_slapd_load s, started (a first bind and lookup) in $t_slapd_start s" >&2

# --- 5. wicket --------------------------------------------------------------

free_port wicket_port
wicket_url="ldap://127.0.0.1:$wicket_port/"
wd=$work/wicket-data
mkdir -p "$wd"
max_connections=$((2 * concurrency > 4096 ? 2 * concurrency : 4096))
cat >"$wd/wicket.toml" <<EOF
listen   = "127.0.0.1:$wicket_port"
database = "$wd/wicket.db"
key_file = "$wd/wicket.key"
base_dn  = "$base_dn"

[log]
# No line per bind, as slapd's log level none. Each bind is still an audit
# record in the database, written in batches off the bind's path.
level = "warn"

[limits]
max_connections = $max_connections

[lockout]
# trusted_clients keeps its default, 127.0.0.1 and ::1: the load tool binds
# every user from one address, as Dovecot and Postfix do, and is exempt from
# the limits per address exactly as they are configured to be.
EOF
t=$(now)
"$wicket" --config "$wd/wicket.toml" user import "$work/data/people.ldif" >"$wd/import.log" 2>&1 ||
  { cat "$wd/import.log" >&2; die "wicket user import failed"; }
t_import=$(since "$t")
echo "wicket: $users users imported in $t_import s" >&2
# The service account lookup binds as: its own password alone, as Postfix
# binds.
(umask 077 && perl -e 'open(my $r, "<:raw", "/dev/urandom") or die; read($r, my $b, 16) == 16 or die; print unpack("H*", $b)' \
  >"$work/data/wicket-service.pw")
"$wicket" --config "$wd/wicket.toml" user add postfix --role service --password-stdin \
  <"$work/data/wicket-service.pw" >>"$wd/import.log" 2>&1 ||
  { cat "$wd/import.log" >&2; die "wicket user add of the service account failed"; }

# create_bind_credentials NAMES OUT gives each user of NAMES (one a line)
# what a mail client binds to wicket with, TOTP and one app password, and
# writes OUT as `wicket bench --users` reads it: the bind DN, a tab, the app
# password, one user a line. One process, a thousand users a transaction.
create_bind_credentials() { # NAMES OUT
  local names=$1 out=$2
  echo "wicket: TOTP and one app password for each of $(wc -l <"$names") users (apppw create-bulk)" >&2
  "$wicket" --config "$wd/wicket.toml" apppw create-bulk --label bench --enroll-totp \
    --names "$names" --out "$out" 2>"$wd/create-bulk.log" ||
    { cat "$wd/create-bulk.log" >&2; die "wicket apppw create-bulk failed"; }
}

if [ "$binding" -eq 1 ]; then
  t=$(now)
  create_bind_credentials "$work/data/bind-names.txt" "$work/data/wicket-users.tsv"
  got=$(wc -l <"$work/data/wicket-users.tsv")
  [ "$got" -eq "$bind_users" ] || die "$got app passwords created for $bind_users users"
  # The same users in the same order as slapd's file, whatever order the
  # credentials were written in.
  sort -o "$work/data/wicket-users.tsv" "$work/data/wicket-users.tsv"
  sort -o "$work/data/slapd-users.tsv" "$work/data/slapd-users.tsv"
  t=$(since "$t")
  echo "wicket: credentials of $bind_users users in $t s" >&2
  t_credentials="credentials of $bind_users users $t s"
else
  t_credentials="no credentials (no bind mode)"
fi
t=$(now)
"$wicket" --config "$wd/wicket.toml" serve >"$wd/wicket.log" 2>&1 &
wicket_pid=$!
wait_for_bind wicket "$wicket_pid" "$wicket_url" "$wicket_service_dn" "$(cat "$work/data/wicket-service.pw")" "$wd/wicket.log"
if [ "$binding" -eq 1 ]; then
  IFS=$'\t' read -r first_dn first_pw <"$work/data/wicket-users.tsv"
  wait_for_bind wicket "$wicket_pid" "$wicket_url" "$first_dn" "$first_pw" "$wd/wicket.log"
fi
first_lookup wicket "$wicket_url" "$wicket_service_dn" "$work/data/wicket-service.pw" "$wd/wicket.log"
t_wicket_start=$(since "$t")
echo "wicket: started (a first bind and lookup) in $t_wicket_start s" >&2

# --- 6. the load --------------------------------------------------------------

slapd_version=$({ "$slapd" -VV 2>&1 || true; } | sed -n 's/.*slapd \([^ ]*\) .*/\1/p' | head -n 1)
if [ "$binding" -eq 0 ]; then
  binds_line="  bind modes: none run"
elif [ "$bind_users" -eq "$users" ]; then
  binds_line="  bind modes: the same $users users on both, in turn"
else
  binds_line="  bind modes: the same $bind_users users on both (one in $((users / bind_users)) of the $users), in turn"
fi
header=$work/header.txt
cat >"$header" <<EOF
slapd $slapd_version: mdb, $users users with {SSHA} passwords, indexes on uid, mail and objectClass,
  16 threads (slapd's default: Debian sets none), log level none; binds with the primary password;
  lookups as $slapd_service_dn, an entry with read access
wicket: SQLite, the same $users users; binds with the user's app password (TOTP enrolled);
  lookups as $wicket_service_dn, role service; log level warn
  (no line per bind; audit records are written to its database in batches)
load: wicket bench from this machine, $concurrency connections, $warmup warm-up + $duration per run,
  $rounds run(s) per server and mode, the order alternating; both servers on 127.0.0.1
$binds_line
  lookup: the service account bound once per connection, then $lookup_filter under
  $people for each of the $users users in turn, the connections starting spread over them
setup: LDIF ${t_generate} s; slapd: slapadd ${t_slapd_load} s, start (to a first bind and lookup) ${t_slapd_start} s;
  wicket: import ${t_import} s, ${t_credentials}, start ${t_wicket_start} s
machine: $(nproc) CPUs shared by the load tool and the server measured; load average $(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo unknown)
EOF
echo
cat "$header"
echo

reports=$work/reports
mkdir -p "$reports"
bench_failed=0

run_bench() { # SERVER MODE ROUND
  local server=$1 mode=$2 round=$3 url list report who
  if [ "$server" = slapd ]; then
    url=$slapd_url list=$work/data/slapd-users.tsv
    who=(-D "$slapd_service_dn" -y "$work/data/slapd-service.pw")
  else
    url=$wicket_url list=$work/data/wicket-users.tsv
    who=(-D "$wicket_service_dn" -y "$work/data/wicket-service.pw")
  fi
  if [ "$mode" = lookup ]; then
    # Bound once as the service account, every user looked up.
    who+=(--users "$work/data/names.txt" --base "$people" --filter "$lookup_filter")
  else
    who=(--users "$list")
  fi
  report=$reports/$mode-$server-$round.json
  if [ "$rounds" -gt 1 ]; then
    echo "running $mode against $server (round $round of $rounds)" >&2
  else
    echo "running $mode against $server" >&2
  fi
  if ! "$wicket" bench -H "$url" "${who[@]}" --mode "$mode" \
    --concurrency "$concurrency" --duration "$duration" --warmup "$warmup" \
    --json --quiet >"$report" 2>"$report.err"; then
    # Failed operations may make the load tool's exit status non-zero; its
    # report says how many. Without a report there is nothing to show.
    if ! jq -e '.ops_per_second' "$report" >/dev/null 2>&1; then
      echo "compare.sh: wicket bench against $server ($mode) failed:" >&2
      cat "$report.err" >&2
      bench_failed=1
      rm -f "$report"
      return 0
    fi
  fi
  [ -s "$report.err" ] || rm -f "$report.err"
}

# Machine noise (frequency scaling, the other server's batched writes) is
# spread by alternating which server goes first: slapd for the first mode,
# wicket for the second, and so on, and the other way round in every second
# round.
i=0
for mode in "${mode_list[@]}"; do
  for ((round = 1; round <= rounds; round++)); do
    if (((i + round) % 2 == 1)); then order="slapd wicket"; else order="wicket slapd"; fi
    for server in $order; do
      run_bench "$server" "$mode" "$round"
    done
  done
  # The best round of each server is the report shown.
  for server in slapd wicket; do
    best=""
    for ((round = 1; round <= rounds; round++)); do
      f=$reports/$mode-$server-$round.json
      [ -f "$f" ] || continue
      if [ -z "$best" ] || jq -e --slurpfile b "$best" '.ops_per_second > $b[0].ops_per_second' "$f" >/dev/null; then
        best=$f
      fi
    done
    [ -n "$best" ] && cp "$best" "$reports/$mode-$server.json"
  done
  i=$((i + 1))
done

# --- 7. the table ---------------------------------------------------------------

table=$work/table.txt
{
  cat "$header"
  echo
  printf '%-13s %-8s %-9s %-7s %-7s %-7s %-7s %s\n' mode server ops/s "p50 ms" "p95 ms" "p99 ms" "max ms" errors
  for mode in "${mode_list[@]}"; do
    for server in slapd wicket; do
      f=$reports/$mode-$server.json
      if [ ! -f "$f" ]; then
        printf '%-13s %-8s %s\n' "$mode" "$server" "no report (the load tool failed)"
        continue
      fi
      jq -r --arg m "$mode" --arg s "$server" '
        [$m, $s, .ops_per_second, .latency_ms.p50, .latency_ms.p95,
         .latency_ms.p99, .latency_ms.max, .failed] | @tsv' "$f" |
        while IFS=$'\t' read -r m s ops p50 p95 p99 max failed; do
          printf '%-13s %-8s %-9.1f %-7.2f %-7.2f %-7.2f %-7.2f %d\n' \
            "$m" "$s" "$ops" "$p50" "$p95" "$p99" "$max" "$failed"
        done
    done
  done
  echo
  printf '%-13s %-27s %s\n' mode "ratio wicket/slapd ops/s" "p99 wicket/slapd"
  for mode in "${mode_list[@]}"; do
    s=$reports/$mode-slapd.json w=$reports/$mode-wicket.json
    if [ -f "$s" ] && [ -f "$w" ]; then
      jq -r -n --slurpfile s "$s" --slurpfile w "$w" '
        def ratio(a; b): if b > 0 then a / b | tostring else "-" end;
        [ratio($w[0].ops_per_second; $s[0].ops_per_second),
         ratio($w[0].latency_ms.p99; $s[0].latency_ms.p99)] | @tsv' |
        while IFS=$'\t' read -r ops p99; do
          [ "$ops" = - ] || ops=$(printf '%.2f' "$ops")
          [ "$p99" = - ] || p99=$(printf '%.2f' "$p99")
          printf '%-13s %-27s %s\n' "$mode" "$ops" "$p99"
        done
    else
      printf '%-13s %s\n' "$mode" "-"
    fi
  done
  for mode in "${mode_list[@]}"; do
    for server in slapd wicket; do
      f=$reports/$mode-$server.json
      [ -f "$f" ] || continue
      jq -r --arg m "$mode" --arg s "$server" '
        select(.failed > 0) |
        "\n\($m) \($s): \(.failed) of \(.operations) operations failed",
        (.errors[]? | "  \(.count) x \(.result) (\(.code))")' "$f"
    done
  done
} >"$table"
shopt -s nullglob
shown=("$reports"/*-slapd.json "$reports"/*-wicket.json)
failed_total=0
[ ${#shown[@]} -eq 0 ] || failed_total=$(jq -s '[.[].failed] | add' "${shown[@]}")
# The table, without the header printed above.
tail -n +"$(($(wc -l <"$header") + 2))" "$table"

warnings=$(grep -c . "$wd/wicket.log" || true)
if [ "$warnings" -gt 0 ]; then
  echo
  echo "wicket logged $warnings line(s) at level warn or above; the first:"
  head -n 3 "$wd/wicket.log"
fi

if [ -n "$out" ]; then
  mkdir -p "$out"
  # One report per server and mode, and with --rounds every round's too.
  if [ "$rounds" -gt 1 ]; then
    keep_reports=("$reports"/*.json)
  else
    keep_reports=("${shown[@]}")
  fi
  [ ${#keep_reports[@]} -eq 0 ] || cp "${keep_reports[@]}" "$out"/
  cp "$table" "$out"/
  cp "$sd/config.ldif" "$out/slapd-config.ldif"
  cp "$wd/wicket.toml" "$out/wicket.toml"
  echo "reports written to $out" >&2
fi

if [ "$bench_failed" -ne 0 ] || [ "$failed_total" -gt 0 ]; then
  exit 1
fi
