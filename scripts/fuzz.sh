#!/bin/sh
# Runs the libFuzzer targets of tests/fuzz (built by `make fuzz-build` into build/fuzz).
#   scripts/fuzz.sh run SECONDS NAME...   fuzz each target for SECONDS, then a summary
#   scripts/fuzz.sh replay 0 NAME...      run each target once over its seeds and regressions
# New corpus entries go to build/fuzz/corpus-NAME (never the repository), crashes to
# build/fuzz/artifacts/NAME-*, each run's output to build/fuzz/log-NAME.txt.
# Exits 1 when any target crashed (or leaked, or timed out).
set -u
mode=$1
seconds=$2
shift 2
B=build/fuzz
mkdir -p "$B/artifacts"
failed=""
summary=""
for t in "$@"; do
    bin="$B/fuzz_$t"
    log="$B/log-$t.txt"
    seeds="tests/fuzz/corpus/$t"
    regs="tests/fuzz/regressions/$t"
    dirs=""
    [ -d "$seeds" ] && dirs="$dirs $seeds"
    [ -d "$regs" ] && dirs="$dirs $regs"
    dict=""
    [ -f "tests/fuzz/$t.dict" ] && dict="-dict=tests/fuzz/$t.dict"
    if [ "$mode" = replay ]; then
        # -runs=0 style: every file once, no mutation.
        # shellcheck disable=SC2086
        "$bin" -runs=0 -rss_limit_mb=2048 -timeout=10 $dict $dirs >"$log" 2>&1
    else
        mkdir -p "$B/corpus-$t"
        # shellcheck disable=SC2086
        "$bin" "$B/corpus-$t" $dirs -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=10 \
            -artifact_prefix="$B/artifacts/$t-" -print_final_stats=1 $dict >"$log" 2>&1
    fi
    rc=$?
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n 1)
    new=$(sed -n 's/^stat::new_units_added: *//p' "$log" | tail -n 1)
    cov=$(grep -o 'cov: [0-9]* ft: [0-9]*' "$log" | tail -n 1)
    if [ "$rc" -ne 0 ]; then
        status="CRASH (exit $rc; see $log and $B/artifacts)"
        failed="$failed $t"
    else
        status=ok
    fi
    if [ "$mode" = replay ]; then
        line=$(printf '%-15s %s' "$t" "$status")
    else
        line=$(printf '%-15s execs %-10s exec/s %-7s new %-6s %-22s %s' "$t" "${execs:-?}" \
            "${rate:-?}" "${new:-?}" "${cov:-cov: ?}" "$status")
    fi
    echo "$line"
    summary="$summary$line
"
done
echo
echo "fuzz $mode summary ($seconds s per target):"
printf '%s' "$summary"
if [ -n "$failed" ]; then
    echo "fuzz: crashed:$failed" >&2
    exit 1
fi
