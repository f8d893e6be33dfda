#!/usr/bin/env bash
# Measures app-password bind throughput with and without a background of
# failed binds on real accounts, in the same run, and prints both rates and
# their ratio (issue 10, "Must show" 6). Failed binds must not flush the
# verified-bind cache nor the directory snapshot, so the ratio should be at
# least 0.9; the script exits non-zero below that, or if a bind of the load
# failed.
#
# A private wicket on a free 127.0.0.1 port, configured and filled under a
# temporary directory removed at exit (unless --keep), stopped at exit, on
# failure and on Ctrl-C too. Not part of `make test`. See "Performance" in
# README.md.
set -euo pipefail
export LC_ALL=C

usage() {
  cat <<'EOF'
usage: bench/background.sh [options]

  --users N          accounts, each with TOTP and one app password (default 100)
  --concurrency C    connections of wicket bench (default 16)
  --duration D       measured time per run, a Go duration (default 10s)
  --warmup D         unmeasured load before each run (default 2s)
  --rate R           failed binds a second in the background (default 100)
  --code-share P     per cent of them password+code guesses, the rest
                     app-password-shaped (default 10)
  --rounds N         runs with the background (default 2), each between two
                     quiet runs
  --keep             keep the work directory (database, logs, reports)
  -h, --help         this text

Runs of `wicket bench --mode bind` with each user's app password, quiet and
with the background in turn, quiet first and last. The ratio is the mean of
the background runs' successful binds a second over the quiet runs' mean.
The background is `wicket bench --rate` with wrong secrets for the same
users, from 127.0.0.1: a trusted client (the mail server, through which an
attacker's guesses arrive unslowed; from an untrusted address the limits per
address would answer most of them busy before any account is looked at).
Needs Go and jq.
EOF
}

users=100
concurrency=16
duration=10s
warmup=2s
rate=100
code_share=10
rounds=2
keep=0

die() { echo "background.sh: $*" >&2; exit 1; }
need_value() {
  if [ $# -lt 2 ] || [ -z "$2" ]; then die "$1 needs a value (see --help)"; fi
}
while [ $# -gt 0 ]; do
  case $1 in
    --users) need_value "$@"; users=$2; shift 2 ;;
    --concurrency) need_value "$@"; concurrency=$2; shift 2 ;;
    --duration) need_value "$@"; duration=$2; shift 2 ;;
    --warmup) need_value "$@"; warmup=$2; shift 2 ;;
    --rate) need_value "$@"; rate=$2; shift 2 ;;
    --code-share) need_value "$@"; code_share=$2; shift 2 ;;
    --rounds) need_value "$@"; rounds=$2; shift 2 ;;
    --keep) keep=1; shift ;;
    -h|--help) usage; exit 0 ;;
    *) usage >&2; exit 2 ;;
  esac
done
is_count() { [[ $1 =~ ^[1-9][0-9]*$ ]]; }
is_duration() { [[ $1 =~ ^(0|([0-9]+(\.[0-9]+)?(ns|us|ms|s|m|h))+)$ ]]; }
is_count "$users" || die "--users: $users is not a positive number"
is_count "$concurrency" || die "--concurrency: $concurrency is not a positive number"
is_count "$rate" || die "--rate: $rate is not a positive number"
is_count "$rounds" || die "--rounds: $rounds is not a positive number"
[[ $code_share =~ ^([0-9]|[1-9][0-9]|100)$ ]] || die "--code-share: $code_share is not a per cent between 0 and 100"
is_duration "$duration" || die "--duration: $duration is not a duration such as 10s"
is_duration "$warmup" || die "--warmup: $warmup is not a duration such as 2s"

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
# shellcheck source=bench/lib.sh
. "$here/lib.sh"
stop_all() {
  stop "$background_pid"
  stop "$wicket_pid"
}
remove_at_exit

echo "building wicket" >&2
(cd "$root" && go build -o "$work/wicket" ./cmd/wicket)
wicket=$work/wicket

free_port port
url="ldap://127.0.0.1:$port/"

# argon2id is kept cheap: each password+code guess costs one hash, CPU
# taken from the load whatever the caches do, which is not what is measured
# here. The default lockout applies: 127.0.0.1 is a trusted client.
cat >"$work/wicket.toml" <<EOF
listen   = "127.0.0.1:$port"
database = "$work/wicket.db"
key_file = "$work/wicket.key"
base_dn  = "dc=example,dc=org"

[log]
level = "warn"

[argon2]
memory_kib = 8192
time       = 1
threads    = 1
EOF

# The server's first start creates the database and its key; the users are
# added while it runs, as an administrator would.
"$wicket" --config "$work/wicket.toml" serve >"$work/wicket.log" 2>&1 &
wicket_pid=$!
deadline=$((SECONDS + 60))
until (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do
  kill -0 "$wicket_pid" 2>/dev/null || { cat "$work/wicket.log" >&2; die "wicket exited during start-up"; }
  ((SECONDS < deadline)) || { cat "$work/wicket.log" >&2; die "wicket does not listen after 60 s"; }
  sleep 0.2
done

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

bench() { # NAME: one run of wicket bench, its report in $work/NAME.json
  "$wicket" bench -H "$url" --users "$work/users.tsv" --mode bind --concurrency "$concurrency" \
    --duration "$duration" --warmup "$warmup" --json --quiet >"$work/$1.json" 2>"$work/$1.err" || true
  jq -e '.ops_per_second' "$work/$1.json" >/dev/null 2>&1 || { cat "$work/$1.err" >&2; die "wicket bench ($1) gave no report"; }
}
succeeded_per_second() { jq -r '.succeeded / .duration_seconds' "$work/$1.json"; }
failed() { jq -r '.failed' "$work/$1.json"; }

# Wrong secrets for the same users: a made-up app password, or for one in
# every 100/code_share a wrong password followed by six digits.
awk -F '\t' -v share="$code_share" 'BEGIN { srand() }
  { if (rand() * 100 < share) printf "%s\tWrong-%d%06d\n", $1, NR, int(rand() * 1000000)
    else { s = ""; for (i = 0; i < 16; i++) s = s substr("abcdefghijklmnopqrstuvwxyz", int(rand() * 26) + 1, 1)
           printf "%s\t%s\n", $1, s } }' "$work/users.tsv" >"$work/wrong.tsv"

# Quiet and background runs alternate, quiet first and last, so that a
# drift of the machine over the runs weighs on both alike.
runs=()
for ((r = 1; r <= rounds; r++)); do runs+=("quiet$r" "background$r"); done
runs+=("quiet$((rounds + 1))")
n=0
for run in "${runs[@]}"; do
  n=$((n + 1))
  if [[ $run == quiet* ]]; then
    echo "run $n of ${#runs[@]}: quiet" >&2
    bench "$run"
    continue
  fi
  echo "run $n of ${#runs[@]}: with $rate failed binds/s on the same accounts ($code_share % password+code)" >&2
  # The background starts first and runs until the measured run has ended.
  # Every bind of it fails, so it prints no report, only its progress.
  "$wicket" bench -H "$url" --users "$work/wrong.tsv" --mode bind --concurrency 8 --rate "$rate" \
    --duration 1h >"$work/$run.txt" 2>&1 &
  background_pid=$!
  sleep 1
  bench "$run"
  stop "$background_pid"
  background_pid=""
done

echo
printf '%-28s %12s %s\n' run "binds/s" "failed binds of the load"
quiet_sum=0 quiet_n=0 bg_sum=0 bg_n=0
for run in "${runs[@]}"; do
  rate_of_run=$(succeeded_per_second "$run")
  if [[ $run == quiet* ]]; then
    label="quiet"
    quiet_sum=$(awk -v a="$quiet_sum" -v b="$rate_of_run" 'BEGIN { print a + b }'); quiet_n=$((quiet_n + 1))
  else
    label="with $rate failed binds/s"
    bg_sum=$(awk -v a="$bg_sum" -v b="$rate_of_run" 'BEGIN { print a + b }'); bg_n=$((bg_n + 1))
  fi
  printf '%-28s %12.0f %s\n' "$label" "$rate_of_run" "$(failed "$run")"
done
ratio=$(awk -v b="$bg_sum" -v bn="$bg_n" -v q="$quiet_sum" -v qn="$quiet_n" 'BEGIN { printf "%.3f", (b / bn) / (q / qn) }')
echo
tail -n 1 "$work/background1.txt" | tr '\r' '\n' | tail -n 1
echo "ratio (mean of runs with background / mean of quiet runs): $ratio"
status=0
if awk -v r="$ratio" 'BEGIN { exit !(r < 0.9) }'; then
  echo "FAIL: below 0.9: failed binds cost the other binds their cache" >&2
  status=1
fi
for run in "${runs[@]}"; do
  if [ "$(failed "$run")" -ne 0 ]; then
    echo "FAIL: $(failed "$run") binds of the load failed in run $run: $(jq -c '.errors' "$work/$run.json")" >&2
    status=1
  fi
done
exit "$status"
