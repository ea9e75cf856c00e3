# Sourced by the package tests (scripts/test-deb.sh, scripts/test-deb-systemd.sh): their
# step helpers and the count their last line reports. The caller sets test_name first; a
# function on_failure, if it defines one, runs before a failure exits (to show logs).
# shellcheck shell=bash
passed=0

say() { printf '%s: %s\n' "$test_name" "$*"; }
fail() {
    printf '%s: FAILED: %s\n' "$test_name" "$*" >&2
    if declare -F on_failure >/dev/null; then
        on_failure || true
    fi
    exit 1
}
check() { # check DESCRIPTION COMMAND...: runs it, counts it, fails the test if it fails
    local what=$1
    shift
    if "$@"; then
        passed=$((passed + 1))
        say "ok: $what"
    else
        fail "$what"
    fi
}
wait_for() { # wait_for SECONDS COMMAND...: until the command succeeds, at most that long
    local deadline=$((SECONDS + $1))
    shift
    until "$@"; do
        [ $SECONDS -lt $deadline ] || return 1
        sleep 0.2
    done
}
