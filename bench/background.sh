#!/usr/bin/env bash
# Measures a load with and without a background in the same run, and prints
# both rates and their ratio; the script exits non-zero below 0.9, or if an
# operation of the load failed.
#
# --mode bind (issue 10, "Must show" 6): app-password binds, the background
# failed binds on the same accounts. Failed binds must not flush the
# verified-bind cache nor the directory snapshot.
#
# --mode lookup (issue 11, "Must show" 2): a service account's lookups over
# all users, the background failed binds, successful password+code binds
# and CLI writes, all at once. Nothing of it may cost the lookups more than
# a tenth, nor push their p99 to 5 ms.
#
# A private wicket on a free 127.0.0.1 port, configured and filled under a
# temporary directory removed at exit (unless --keep), stopped at exit, on
# failure and on Ctrl-C too. Not part of `make test`. See "Performance" in
# README.md.
set -euo pipefail
export LC_ALL=C

usage() {
  cat <<'USAGE'
usage: bench/background.sh [options]

  --mode M           the measured load: bind (default) or lookup
  --users N          accounts (default 100)
  --concurrency C    connections of wicket bench (default 16)
  --duration D       measured time per run, a Go duration (default 10s)
  --warmup D         unmeasured load before each run (default 2s)
  --rate R           failed binds a second in the background (default 100)
  --code-share P     per cent of them password+code guesses, the rest
                     app-password-shaped (default 10)
  --code-rate R      lookup mode: successful password+code binds a second in
                     the background (default 5)
  --cli-rate R       lookup mode: CLI writes a second in the background
                     (default 1)
  --rounds N         runs with the background (default 2), each between two
                     quiet runs
  --argon2 M,T       argon2id memory (KiB) and passes of the server
                     (default 8192,1; OWASP's minimum, wicket's default, is
                     19456,2)
  --keep             keep the work directory (database, logs, reports)
  -h, --help         this text

Bind mode: runs of `wicket bench --mode bind` with each user's app password
(every user has TOTP and one), quiet and with the background in turn, quiet
first and last. The ratio is the mean of the background runs' successful
operations a second over the quiet runs' mean. The failed binds are
`wicket bench --rate` with wrong secrets for the same users, from 127.0.0.1:
a trusted client (the mail server, through which an attacker's guesses
arrive unslowed; from an untrusted address the limits per address would
answer most of them busy before any account is looked at).

Lookup mode: the users are imported from an LDIF ({SSHA} passwords, all the
same one), a service account is added, and TOTP is enrolled for up to 1,000
of them (apppw create-bulk). The load is `wicket bench --mode lookup` as the
service account over all users. The background is three clients at once:
the failed binds on the users without TOTP; password+code binds of the users
with TOTP in turn (`wicket bench --totp`, one client process computing each
code, every user at most once a 30 s step); `wicket user set NAME
--display-name` on the users in turn, a process each. Every run's p99 is
shown, and whether each background run's is under 5 ms.

Needs Go and jq; lookup mode also perl and ldapsearch.
USAGE
}

mode=bind
users=100
concurrency=16
duration=10s
warmup=2s
rate=100
code_share=10
code_rate=5
cli_rate=1
rounds=2
argon2=8192,1
keep=0

die() { echo "background.sh: $*" >&2; exit 1; }
need_value() {
  if [ $# -lt 2 ] || [ -z "$2" ]; then die "$1 needs a value (see --help)"; fi
}
while [ $# -gt 0 ]; do
  case $1 in
    --mode) need_value "$@"; mode=$2; shift 2 ;;
    --users) need_value "$@"; users=$2; shift 2 ;;
    --concurrency) need_value "$@"; concurrency=$2; shift 2 ;;
    --duration) need_value "$@"; duration=$2; shift 2 ;;
    --warmup) need_value "$@"; warmup=$2; shift 2 ;;
    --rate) need_value "$@"; rate=$2; shift 2 ;;
    --code-share) need_value "$@"; code_share=$2; shift 2 ;;
    --code-rate) need_value "$@"; code_rate=$2; shift 2 ;;
    --cli-rate) need_value "$@"; cli_rate=$2; shift 2 ;;
    --rounds) need_value "$@"; rounds=$2; shift 2 ;;
    --argon2) need_value "$@"; argon2=$2; shift 2 ;;
    --keep) keep=1; shift ;;
    -h|--help) usage; exit 0 ;;
    *) usage >&2; exit 2 ;;
  esac
done
is_count() { [[ $1 =~ ^[1-9][0-9]*$ ]]; }
is_duration() { [[ $1 =~ ^(0|([0-9]+(\.[0-9]+)?(ns|us|ms|s|m|h))+)$ ]]; }
[[ $mode == bind || $mode == lookup ]] || die "--mode: $mode is neither bind nor lookup"
is_count "$users" || die "--users: $users is not a positive number"
is_count "$concurrency" || die "--concurrency: $concurrency is not a positive number"
is_count "$rate" || die "--rate: $rate is not a positive number"
is_count "$code_rate" || die "--code-rate: $code_rate is not a positive number"
is_count "$cli_rate" || die "--cli-rate: $cli_rate is not a positive number"
is_count "$rounds" || die "--rounds: $rounds is not a positive number"
[[ $code_share =~ ^([0-9]|[1-9][0-9]|100)$ ]] || die "--code-share: $code_share is not a per cent between 0 and 100"
[[ $argon2 =~ ^([1-9][0-9]*),([1-9][0-9]*)$ ]] || die "--argon2: $argon2 is not MEMORY_KIB,TIME such as 8192,1"
argon2_memory=${BASH_REMATCH[1]} argon2_time=${BASH_REMATCH[2]}
is_duration "$duration" || die "--duration: $duration is not a duration such as 10s"
is_duration "$warmup" || die "--warmup: $warmup is not a duration such as 2s"
if [ "$mode" = lookup ]; then
  ((users >= 2)) || die "--users: lookup mode needs at least 2 (some with TOTP, some without)"
  for tool in perl ldapsearch; do
    command -v "$tool" >/dev/null 2>&1 || die "$tool is not installed (apt-get install perl ldap-utils)"
  done
fi

if ! command -v go >/dev/null 2>&1 && [ -x /usr/local/go/bin/go ]; then
  PATH=/usr/local/go/bin:$PATH
fi
command -v go >/dev/null 2>&1 || die "go is not installed (see README.md)"
command -v jq >/dev/null 2>&1 || die "jq is not installed (apt-get install jq)"

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/.." && pwd)
people="ou=people,dc=example,dc=org"

work=$(mktemp -d "${TMPDIR:-/tmp}/wicket-background.XXXXXX")
wicket_pid=""
background_pid=""
code_pid=""
cli_pid=""
# shellcheck source=bench/lib.sh
. "$here/lib.sh"
stop_all() {
  stop "$cli_pid"
  stop "$code_pid"
  stop "$background_pid"
  stop "$wicket_pid"
}
remove_at_exit

echo "building wicket" >&2
(cd "$root" && go build -o "$work/wicket" ./cmd/wicket)
wicket=$work/wicket

free_port port
url="ldap://127.0.0.1:$port/"

# argon2id is kept cheap unless --argon2 says otherwise: each password+code
# guess costs one hash, CPU taken from the load whatever the caches do. The
# default lockout applies: 127.0.0.1 is a trusted client.
cat >"$work/wicket.toml" <<TOML
listen   = "127.0.0.1:$port"
database = "$work/wicket.db"
key_file = "$work/wicket.key"
base_dn  = "dc=example,dc=org"

[log]
level = "warn"

[argon2]
memory_kib = $argon2_memory
time       = $argon2_time
threads    = 1
TOML

start_wicket() {
  "$wicket" --config "$work/wicket.toml" serve >"$work/wicket.log" 2>&1 &
  wicket_pid=$!
  local deadline=$((SECONDS + 60))
  until (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do
    kill -0 "$wicket_pid" 2>/dev/null || { cat "$work/wicket.log" >&2; die "wicket exited during start-up"; }
    ((SECONDS < deadline)) || { cat "$work/wicket.log" >&2; die "wicket does not listen after 60 s"; }
    sleep 0.2
  done
}

now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

if [ "$mode" = bind ]; then
  # The server's first start creates the database and its key; the users
  # are added while it runs, as an administrator would.
  start_wicket
  echo "creating $users users with TOTP and an app password each" >&2
  seq -f 'user%04g' 1 "$users" >"$work/names.txt"
  jobs=$(($(nproc) * 2))
  ((jobs > 8)) && jobs=8
  export WICKET_BIN=$wicket WICKET_CONFIG=$work/wicket.toml PEOPLE=$people
  # shellcheck disable=SC2016 # expanded by the inner bash
  xargs -P "$jobs" -n 10 bash -c '
    set -euo pipefail
    for name; do
      "$WICKET_BIN" --config "$WICKET_CONFIG" user add "$name" --mail "$name@example.org" --password-stdin <<<"Primary-$RANDOM$RANDOM-$name" >/dev/null
      "$WICKET_BIN" --config "$WICKET_CONFIG" --json totp enroll "$name" >/dev/null
      created=$("$WICKET_BIN" --config "$WICKET_CONFIG" --json apppw create "$name" --label bench)
      [[ $created =~ \"password\":\ *\"([a-z-]+)\" ]] || { echo "no app password for $name: $created" >&2; exit 1; }
      printf "uid=%s,%s\t%s\n" "$name" "$PEOPLE" "${BASH_REMATCH[1]}"
    done
  ' _ <"$work/names.txt" >"$work/users.tsv"
  [ "$(wc -l <"$work/users.tsv")" -eq "$users" ] || die "not every user got an app password"
  sort -o "$work/users.tsv" "$work/users.tsv"
  # Wrong secrets for the same users.
  wrong_for=$work/users.tsv
else
  # One LDIF in one process whatever the number of users: every user with
  # the same primary password, stored as {SSHA} with a salt of their own.
  # Written beside it: all names (the lookups), the service account's
  # password, and the users who get TOTP (every (N / M)th, M = min(1000,
  # N / 2)) and those who do not (the failed binds' targets: ten wrong
  # password+code binds in a row on one account lock its password+code
  # sign-in through the trusted address, which the code binds would hit).
  code_users=$((users / 2 < 1000 ? users / 2 : 1000))
  t=$(now)
  (umask 077 && perl -e '
    use strict; use warnings;
    use Digest::SHA qw(sha1); use MIME::Base64 qw(encode_base64);
    my ($n, $m, $people, $dir) = @ARGV;
    open(my $rnd, "<:raw", "/dev/urandom") or die "/dev/urandom: $!\n";
    sub random { my $b; read($rnd, $b, $_[0]) == $_[0] or die "/dev/urandom: short read\n"; $b }
    sub out { open(my $f, ">", "$dir/$_[0]") or die "$dir/$_[0]: $!\n"; $f }
    my ($ldif, $names, $code, $others, $pwf, $svc) =
      map { out($_) } ("people.ldif", "names.txt", "code-names.txt", "other-names.txt", "primary.pw", "service.pw");
    my $pw = unpack("H*", random(10));
    print $pwf $pw;
    print $svc unpack("H*", random(16));
    print $ldif "dn: dc=example,dc=org\nobjectClass: dcObject\nobjectClass: organization\ndc: example\no: example\n\n";
    print $ldif "dn: $people\nobjectClass: organizationalUnit\nou: people\n\n";
    my $step = int($n / $m);
    my $chosen = 0;
    for my $i (1 .. $n) {
      my $uid = sprintf("user%04d", $i);
      my $salt = random(8);
      print $ldif "dn: uid=$uid,$people\nobjectClass: inetOrgPerson\nuid: $uid\ncn: User $i\nsn: $i\n",
        "mail: $uid\@example.org\nuserPassword: {SSHA}", encode_base64(sha1($pw . $salt) . $salt, ""), "\n\n";
      print $names "$uid\n";
      if ($chosen < $m && ($i - 1) % $step == 0) { print $code "$uid\n"; $chosen++ }
      else { print $others "$uid\n" }
    }
    close($_) or die "$!\n" for ($ldif, $names, $code, $others, $pwf, $svc);
  ' "$users" "$code_users" "$people" "$work")
  echo "generated $users users with {SSHA} passwords in $(since "$t") s" >&2
  # Only init (or the server's first start) creates the database and key.
  "$wicket" --config "$work/wicket.toml" init >"$work/import.log" 2>&1 ||
    { cat "$work/import.log" >&2; die "wicket init failed"; }
  t=$(now)
  "$wicket" --config "$work/wicket.toml" user import "$work/people.ldif" >>"$work/import.log" 2>&1 ||
    { cat "$work/import.log" >&2; die "wicket user import failed"; }
  echo "imported $users users in $(since "$t") s" >&2
  "$wicket" --config "$work/wicket.toml" user add postfix --role service --password-stdin \
    <"$work/service.pw" >>"$work/import.log" 2>&1 ||
    { cat "$work/import.log" >&2; die "wicket user add of the service account failed"; }
  service_dn="uid=postfix,$people"
  t=$(now)
  "$wicket" --config "$work/wicket.toml" apppw create-bulk --label bench --enroll-totp \
    --names "$work/code-names.txt" --out "$work/apppw.tsv" --totp-out "$work/totp.tsv" 2>"$work/create-bulk.log" ||
    { cat "$work/create-bulk.log" >&2; die "wicket apppw create-bulk failed"; }
  echo "enrolled TOTP for $code_users users in $(since "$t") s" >&2
  # NAME<TAB>otpauth://totp/...?secret=BASE32&... to DN<TAB>BASE32.
  sed -n 's/^\([^\t]*\)\t.*[?&]secret=\([A-Za-z2-7=]*\).*/uid=\1,'"$people"'\t\2/p' "$work/totp.tsv" >"$work/codes.tsv"
  [ "$(wc -l <"$work/codes.tsv")" -eq "$code_users" ] || die "$(wc -l <"$work/codes.tsv") TOTP seeds for $code_users users"
  sed "s/.*/uid=&,$people/" "$work/other-names.txt" >"$work/others.tsv"
  wrong_for=$work/others.tsv
  t=$(now)
  start_wicket
  # A first lookup of the last user: whatever the server builds for lookups
  # is built before any measured run.
  deadline=$((SECONDS + 300))
  until ldapsearch -x -LLL -H "$url" -D "$service_dn" -y "$work/service.pw" -b "$people" \
    "(mail=$(tail -n 1 "$work/names.txt")@example.org)" uid >"$work/search.out" 2>&1 &&
    grep -q '^uid: ' "$work/search.out"; do
    kill -0 "$wicket_pid" 2>/dev/null || { cat "$work/wicket.log" >&2; die "wicket exited during start-up"; }
    ((SECONDS < deadline)) || { cat "$work/search.out" "$work/wicket.log" >&2; die "no first lookup after 300 s"; }
    sleep 0.2
  done
  echo "started (to a first lookup) in $(since "$t") s" >&2
fi

bench() { # NAME: one run of wicket bench, its report in $work/NAME.json
  local who
  if [ "$mode" = bind ]; then
    who=(--users "$work/users.tsv")
  else
    who=(-D "$service_dn" -y "$work/service.pw" --users "$work/names.txt")
  fi
  "$wicket" bench -H "$url" "${who[@]}" --mode "$mode" --concurrency "$concurrency" \
    --duration "$duration" --warmup "$warmup" --json --quiet >"$work/$1.json" 2>"$work/$1.err" || true
  jq -e '.ops_per_second' "$work/$1.json" >/dev/null 2>&1 || { cat "$work/$1.err" >&2; die "wicket bench ($1) gave no report"; }
}
succeeded_per_second() { jq -r '.succeeded / .duration_seconds' "$work/$1.json"; }
p99() { jq -r '.latency_ms.p99' "$work/$1.json"; }
failed() { jq -r '.failed' "$work/$1.json"; }

# Wrong secrets for the same users: a made-up app password, or for one in
# every 100/code_share a wrong password followed by six digits.
awk -F '\t' -v share="$code_share" 'BEGIN { srand() }
  { if (rand() * 100 < share) printf "%s\tWrong-%d%06d\n", $1, NR, int(rand() * 1000000)
    else { s = ""; for (i = 0; i < 16; i++) s = s substr("abcdefghijklmnopqrstuvwxyz", int(rand() * 26) + 1, 1)
           printf "%s\t%s\n", $1, s } }' "$wrong_for" >"$work/wrong.tsv"

# paced RATE: sleeps until the next of RATE ticks a second, counted from the
# first call; a client that falls behind does not catch up in a burst.
paced_next=0
paced() {
  local step=$((1000000 / $1)) now_us=${EPOCHREALTIME/./} wait_us
  ((paced_next == 0 || paced_next < now_us)) && paced_next=$now_us
  paced_next=$((paced_next + step))
  wait_us=$((paced_next - now_us))
  ((wait_us > 0)) && sleep "$((wait_us / 1000000)).$(printf '%06d' $((wait_us % 1000000)))"
  return 0
}

# count OUT: "succeeded failed" of the lines ok and failed in OUT.
count() {
  local ok bad
  ok=$(grep -c '^ok$' "$1" || true)
  bad=$(grep -c '^failed$' "$1" || true)
  echo "$ok $bad"
}

# code_binds RUN: password+code binds of the users of codes.tsv in turn,
# --code-rate a second, until stopped: one `wicket bench --totp` process, as
# one client would send them, its report in $work/RUN.code.json. A code
# works once per user and 30 s step, so each run starts at the user after
# the last one the run before reached (kept in code-next).
code_binds() {
  local run=$1 i n
  n=$(wc -l <"$work/codes.tsv")
  i=$(cat "$work/code-next" 2>/dev/null || echo 0)
  i=$((i % n))
  # DN<TAB>BASE32 to DN<TAB>PASSWORD<TAB>BASE32, starting at user i.
  (umask 077 && { tail -n +"$((i + 1))" "$work/codes.tsv"; head -n "$i" "$work/codes.tsv"; } |
    awk -F '\t' -v pw="$(cat "$work/primary.pw")" '{ printf "%s\t%s\t%s\n", $1, pw, $2 }' >"$work/code-users.tsv")
  "$wicket" bench -H "$url" --users "$work/code-users.tsv" --totp --mode bind --concurrency 1 \
    --rate "$code_rate" --duration 1h --json --quiet >"$work/$run.code.json" 2>"$work/$run.code.err" &
  code_pid=$!
}

# code_count RUN: "succeeded failed" of the password+code binds of RUN.
code_count() {
  local n
  if jq -e '.operations' "$work/$1.code.json" >/dev/null 2>&1; then
    jq -r '"\(.succeeded) \(.failed)"' "$work/$1.code.json"
  else
    # Nothing succeeded: no report, only the reason.
    n=$(sed -n 's/.*not one of \([0-9]*\) operations.*/\1/p' "$work/$1.code.err")
    echo "0 ${n:-0}"
  fi
}

# cli_writes OUT: `wicket user set NAME --display-name` on all users in
# turn, --cli-rate a second, until stopped, started on time as the code
# binds; a line ok or failed in OUT for each.
cli_writes() {
  local out=$1 i name
  i=$(cat "$work/cli-next" 2>/dev/null || echo 0)
  : >"$out"
  while :; do
    name=$(printf 'user%04d' $((i % users + 1)))
    i=$((i + 1))
    echo "$i" >"$work/cli-next"
    (
      if "$wicket" --config "$work/wicket.toml" user set "$name" --display-name "D$RANDOM-$i" >/dev/null 2>>"$out.err"; then
        echo ok >>"$out"
      else
        echo failed >>"$out"
      fi
    ) &
    paced "$cli_rate"
  done
}

# Quiet and background runs alternate, quiet first and last, so that a
# drift of the machine over the runs weighs on both alike.
runs=()
for ((r = 1; r <= rounds; r++)); do runs+=("quiet$r" "background$r"); done
runs+=("quiet$((rounds + 1))")
if [ "$mode" = bind ]; then
  background_label="$rate failed binds/s on the same accounts ($code_share % password+code)"
else
  background_label="$rate failed binds/s ($code_share % password+code), $code_rate password+code binds/s, $cli_rate CLI writes/s"
fi
n=0
for run in "${runs[@]}"; do
  n=$((n + 1))
  if [[ $run == quiet* ]]; then
    echo "run $n of ${#runs[@]}: quiet" >&2
    bench "$run"
    continue
  fi
  echo "run $n of ${#runs[@]}: with $background_label" >&2
  # The background starts first and runs until the measured run has ended.
  # Every bind of it fails, so it prints no report, only its progress.
  "$wicket" bench -H "$url" --users "$work/wrong.tsv" --mode bind --concurrency 8 --rate "$rate" \
    --duration 1h >"$work/$run.txt" 2>&1 &
  background_pid=$!
  if [ "$mode" = lookup ]; then
    code_binds "$run"
    cli_writes "$work/$run.cli" &
    cli_pid=$!
  fi
  sleep 1
  bench "$run"
  stop "$cli_pid"
  stop "$code_pid"
  stop "$background_pid"
  cli_pid="" code_pid="" background_pid=""
  if [ "$mode" = lookup ]; then
    read -r ok bad < <(code_count "$run")
    echo $(($(cat "$work/code-next" 2>/dev/null || echo 0) + ok + bad)) >"$work/code-next"
  fi
  sleep 1 # the last code binds and CLI writes started end
done

echo
if [ "$mode" = bind ]; then
  printf '%-28s %12s %8s %s\n' run "binds/s" "p99 ms" "failed binds of the load"
else
  printf '%-28s %12s %8s %7s %20s %20s\n' run "lookups/s" "p99 ms" failed "code binds ok/failed" "CLI writes ok/failed"
fi
quiet_sum=0 quiet_n=0 bg_sum=0 bg_n=0 p99_over=""
for run in "${runs[@]}"; do
  rate_of_run=$(succeeded_per_second "$run")
  extra=()
  if [[ $run == quiet* ]]; then
    label="quiet"
    quiet_sum=$(awk -v a="$quiet_sum" -v b="$rate_of_run" 'BEGIN { print a + b }'); quiet_n=$((quiet_n + 1))
  else
    label="with background"
    bg_sum=$(awk -v a="$bg_sum" -v b="$rate_of_run" 'BEGIN { print a + b }'); bg_n=$((bg_n + 1))
    awk -v p="$(p99 "$run")" 'BEGIN { exit !(p >= 5) }' && p99_over+=" $run"
    if [ "$mode" = lookup ]; then
      read -r ok bad < <(code_count "$run"); extra+=("$ok/$bad")
      read -r ok bad < <(count "$work/$run.cli"); extra+=("$ok/$bad")
    fi
  fi
  if [ "$mode" = bind ]; then
    printf '%-28s %12.0f %8.2f %s\n' "$label" "$rate_of_run" "$(p99 "$run")" "$(failed "$run")"
  else
    printf '%-28s %12.0f %8.2f %7s %20s %20s\n' "$label" "$rate_of_run" "$(p99 "$run")" "$(failed "$run")" "${extra[0]:--}" "${extra[1]:--}"
  fi
done
ratio=$(awk -v b="$bg_sum" -v bn="$bg_n" -v q="$quiet_sum" -v qn="$quiet_n" 'BEGIN { printf "%.3f", (b / bn) / (q / qn) }')
echo
echo "background: $background_label"
tail -n 1 "$work/background1.txt" | tr '\r' '\n' | tail -n 1
echo "ratio (mean of runs with background / mean of quiet runs): $ratio"
if [ -z "$p99_over" ]; then
  echo "p99 under 5 ms in every run with background: yes"
else
  echo "p99 under 5 ms in every run with background: no (5 ms or more in:$p99_over)"
fi
status=0
if awk -v r="$ratio" 'BEGIN { exit !(r < 0.9) }'; then
  echo "FAIL: below 0.9: the background costs the load more than a tenth" >&2
  status=1
fi
for run in "${runs[@]}"; do
  if [ "$(failed "$run")" -ne 0 ]; then
    echo "FAIL: $(failed "$run") operations of the load failed in run $run: $(jq -c '.errors' "$work/$run.json")" >&2
    status=1
  fi
  if [ "$mode" = lookup ] && [[ $run == background* ]]; then
    read -r ok bad < <(code_count "$run")
    if [ "$bad" -ne 0 ] || [ "$ok" -eq 0 ]; then
      echo "FAIL: $bad of the background's password+code binds failed in run $run ($ok succeeded): $(jq -c '.errors' "$work/$run.code.json" 2>/dev/null || cat "$work/$run.code.err")" >&2
      status=1
    fi
    read -r ok bad < <(count "$work/$run.cli")
    if [ "$bad" -ne 0 ]; then
      echo "FAIL: $bad of the background's CLI writes failed in run $run: $(sort "$work/$run.cli.err" | uniq -c | sort -rn | head -n 3 | tr '\n' ' ')" >&2
      status=1
    fi
  fi
done
exit "$status"
