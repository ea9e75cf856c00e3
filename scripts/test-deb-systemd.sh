#!/bin/bash
# The package test under a real systemd (docs/packaging.md): boots a minimal Debian 12
# (debootstrap, cached under build/systemd-test/rootfs) with systemd-nspawn --boot on a
# private network, installs build/vsc_*.deb there with apt-get, and checks the hardened unit
# as systemd runs it: Type=notify start, the sandbox on the process, GETs on the service
# root, pty and unix ports allocated through Redfish with data both ways, reload (SIGHUP),
# the watchdog (pings arrive; a stopped vscd is killed and restarted), stop, purge; then
# scripts/test-deb.sh inside, whose systemd-is-PID-1 branch no CI machine takes.
#
# Root only. The container has its own network namespace, so its 127.0.0.1:9443 is not the
# host's; everything it creates (a copy of the rootfs, cgroups, the container) is removed at
# the end, also on failure. Bounded: 15 minutes in all (about 2 on a warm cache).
#   scripts/test-deb-systemd.sh [build/vsc_VERSION_ARCH.deb]
set -euo pipefail

cd "$(dirname "$0")/.."
if [ -z "${VSC_SYSTEMD_TEST_TIMED:-}" ]; then
    export VSC_SYSTEMD_TEST_TIMED=1
    exec timeout -k 30 900 "$0" "$@"
fi

deb=${1:-$(ls -t build/vsc_*_"$(dpkg --print-architecture)".deb 2>/dev/null | head -1)}
cache=$PWD/build/systemd-test
base=$cache/rootfs           # the debootstrapped Debian 12, made once
archives=$cache/apt-archives # the package's dependencies, downloaded once
run=$cache/run-$$            # this run's copy of the rootfs, deleted at the end
machine=vsc-test-$$
nspawn_pid=""
leader=""
cgroups=()
started=$SECONDS
test_deb_needs="python3 iproute2" # scripts/deps pkgtest, but what the rootfs has

test_name=test-deb-systemd
# shellcheck source=scripts/test-lib.sh
. scripts/test-lib.sh
on_failure() { # the service's side of the story
    [ -n "$leader" ] || return 0
    printf '%s\n' '--- journalctl -u vscd (container) ---' >&2
    in_ct journalctl -u vscd --no-pager -n 60 >&2
}

# A command inside the booted container: all its namespaces, a clean environment.
in_ct() {
    nsenter -t "$leader" -a -- env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 \
        HOME=/root "$@" </dev/null
}
unit_prop() { in_ct systemctl show -P "$1" vscd.service; }

# Without systemd on the host, nspawn puts the container's cgroups beside the caller's; a
# cgroup of our own in each writable hierarchy keeps them apart and is removed afterwards.
enter_own_cgroups() {
    local h dir
    [ -d /run/systemd/system ] && return 0
    for h in /sys/fs/cgroup/systemd /sys/fs/cgroup/unified /sys/fs/cgroup; do
        [ -w "$h/cgroup.procs" ] || continue
        dir="$h/$machine"
        mkdir "$dir"
        cgroups+=("$dir")
        echo "$BASHPID" >"$dir/cgroup.procs"
    done
}
# The flags every systemd-nspawn of this test shares; --keep-unit where no systemd runs.
nspawn_flags() {
    nspawn=(systemd-nspawn -q -D "$run/root" -M "$machine" --bind-ro="$PWD/$deb:/root/vsc.deb"
        --bind="$archives:/var/cache/apt/archives"
        --bind-ro="$PWD/scripts:/src/scripts" --bind-ro="$PWD/$deb:/src/$deb")
    [ -d /run/systemd/system ] || nspawn+=(--register=no --keep-unit)
}

# Every process still in our cgroups is the container's (the test left them first).
remove_cgroups() {
    local dir pid
    for dir in "${cgroups[@]}"; do
        echo "$BASHPID" >"$(dirname "$dir")/cgroup.procs"
    done
    for dir in "${cgroups[@]}"; do
        for pid in $(find "$dir" -name cgroup.procs -exec cat {} + 2>/dev/null); do
            kill -KILL "$pid" 2>/dev/null || true
        done
    done
    for dir in "${cgroups[@]}"; do
        wait_for 10 sh -c "! find '$dir' -name cgroup.procs -exec cat {} + | grep -q ." || true
        find "$dir" -depth -type d -exec rmdir {} \; 2>/dev/null || say "could not remove $dir"
    done
}

gone() { # gone PID: exited (a zombie of ours not reaped yet counts as gone)
    local state
    state=$(ps -o stat= -p "$1") || return 0
    [[ $state == Z* ]]
}
stop_container() {
    [ -n "$nspawn_pid" ] || return 0
    # nspawn asks the container's systemd to power off; a second SIGTERM ends it at once.
    kill -TERM "$nspawn_pid" 2>/dev/null || true
    if ! wait_for 30 gone "$nspawn_pid"; then
        kill -TERM "$nspawn_pid" 2>/dev/null || true
        wait_for 5 gone "$nspawn_pid" || kill -KILL "$nspawn_pid" 2>/dev/null || true
    fi
    wait "$nspawn_pid" 2>/dev/null || true
    nspawn_pid=""
    leader=""
}

cleanup() {
    stop_container
    remove_cgroups
    rm -rf "/run/systemd/nspawn/propagate/$machine" "$run"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

# ---- preconditions ----------------------------------------------------------------------
[ "$(id -u)" -eq 0 ] || fail "run as root: it runs debootstrap and systemd-nspawn"
scripts/deps systemdtest
[ -n "$deb" ] && [ -f "$deb" ] || fail "no package: run 'make deb' first (or give its path)"
deb=$(realpath --relative-to="$PWD" "$deb")
say "package $deb"

# ---- the cached Debian 12 ---------------------------------------------------------------
# The mirror apt uses here (deb822 URIs: or a one-line deb entry), else Debian's own.
apt_uri() { # apt_uri SUITE: the first URI whose entry names that suite
    { cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list \
        /etc/apt/sources.list.d/*.sources 2>/dev/null || true; } | awk -v want="$1" '
        /^deb / && $3 == want { print $2; exit }
        /^URIs:/ { uri = $2 }
        /^Suites:/ { for (i = 2; i <= NF; i++) if ($i == want && uri) { print uri; exit } }'
}
make_rootfs() {
    local mirror security
    mirror=$(apt_uri bookworm)
    mirror=${mirror:-http://deb.debian.org/debian}
    security=$(apt_uri bookworm-security)
    say "debootstrap Debian 12 from $mirror into $base (once; a few minutes)"
    rm -rf "$base.tmp"
    timeout 600 debootstrap --variant=minbase --include=systemd,systemd-sysv,dbus,curl \
        bookworm "$base.tmp" "$mirror" >"$cache/debootstrap.log" 2>&1 || {
        tail -20 "$cache/debootstrap.log" >&2
        fail "debootstrap (log: $cache/debootstrap.log)"
    }
    {
        echo "deb $mirror bookworm main"
        echo "deb $mirror bookworm-updates main"
        [ -z "$security" ] || echo "deb $security bookworm-security main"
    } >"$base.tmp/etc/apt/sources.list"
    echo vsc-systemd-test >"$base.tmp/etc/hostname"
    : >"$base.tmp/etc/machine-id" # systemd makes one at each boot
    mv "$base.tmp" "$base"
}
mkdir -p "$cache" "$archives"
[ -x "$base/lib/systemd/systemd" ] || make_rootfs
say "fresh copy of $base"
rm -rf "$run"
mkdir -p "$run"
cp -a --reflink=auto "$base" "$run/root"
enter_own_cgroups
nspawn_flags

# The package's dependencies, fetched with the host's network into the shared archive
# cache; the booted container then has no network but its own loopback.
say "apt-get update; download the package's dependencies"
"${nspawn[@]}" --pipe -- timeout 300 /bin/sh -c 'apt-get update -qq &&
    apt-get install -y -qq --download-only --no-install-recommends /root/vsc.deb $0' \
    "$test_deb_needs" \
    >"$run/download.log" 2>&1 || {
    cat "$run/download.log" >&2
    fail "downloading the dependencies"
}

# ---- boot -------------------------------------------------------------------------------
boot_started=$SECONDS
"${nspawn[@]}" --boot --private-network >"$run/console.log" 2>&1 &
nspawn_pid=$!
container_leader() { # nspawn's child is the container's PID 1 (systemd)
    leader=$(cat "/proc/$nspawn_pid/task/$nspawn_pid/children" 2>/dev/null | awk '{print $1}')
    [ -n "$leader" ] && [ "$(cat "/proc/$leader/comm" 2>/dev/null)" = systemd ]
}
wait_for 30 container_leader || fail "the container's systemd did not start"
system_up() {
    local state
    state=$(in_ct systemctl is-system-running 2>/dev/null) || true
    [ "$state" = running ] || [ "$state" = degraded ]
}
check "container booted: systemd is PID 1 and the system is up" wait_for 60 system_up
say "booted in $((SECONDS - boot_started)) s: $(in_ct systemd-analyze | head -1)"
check "no failed unit before the install" test -z "$(in_ct systemctl list-units --failed --plain --no-legend)"
check "host port 9443 untouched (the container has its own network)" \
    sh -c "! ss -Hltn 'sport = :9443' | grep -q ."

# ---- install ----------------------------------------------------------------------------
install_started=$SECONDS
in_ct env DEBIAN_FRONTEND=noninteractive timeout 300 apt-get install -y --no-install-recommends \
    /root/vsc.deb >"$run/apt.log" 2>&1 || {
    cat "$run/apt.log" >&2
    fail "apt-get install ./vsc.deb in the container"
}
say "$(grep -E 'upgraded, .* newly installed' "$run/apt.log") ($((SECONDS - install_started)) s)"
check "systemctl is-active vscd (started by the postinst)" \
    wait_for 30 in_ct systemctl is-active --quiet vscd.service
# The IPMI socket where docs/ipmi-oem.md puts it: /run/vsc, the unit's RuntimeDirectory.
in_ct sh -c 'echo "ipmi_socket = /run/vsc/ipmi.sock" >> /etc/vsc/vscd.conf'
check "systemctl restart vscd with ipmi_socket = /run/vsc/ipmi.sock" \
    in_ct timeout 30 systemctl restart vscd.service
check "the IPMI socket is vsc's, in /run/vsc (RuntimeDirectory)" \
    test "$(in_ct stat -c '%U %F' /run/vsc/ipmi.sock)" = "vsc socket"
show=$(in_ct systemctl show -p Type,ActiveState,SubState,NRestarts,WatchdogUSec,MainPID,User vscd)
say "systemctl show: $(echo $show)"
check "Type=notify, active (running), NRestarts=0, WatchdogUSec=30s" test "$(
    printf '%s\n' "$show" | grep -cxE 'Type=notify|ActiveState=active|SubState=running|NRestarts=0|WatchdogUSec=30s'
)" = 5
main_pid=$(unit_prop MainPID)
status=$(in_ct cat "/proc/$main_pid/status")
check "vscd runs as vsc" test "$(in_ct stat -c %U "/proc/$main_pid")" = vsc
check "sandbox: NoNewPrivs 1, Seccomp 2 (filter), no effective capability" \
    test "$(printf '%s\n' "$status" | grep -cE '^(NoNewPrivs:\s+1|Seccomp:\s+2|CapEff:\s+0+)$')" = 3
check "sandbox: in vscd's mounts /usr is read-only, /root empty (ProtectHome)" \
    in_ct nsenter -t "$main_pid" -m -- sh -c '! touch /usr/.vsc-probe 2>/dev/null &&
        test -e /proc/1 && ! test -e /root/vsc.deb'

# ---- the service root -------------------------------------------------------------------
root_is_service_root() {
    python3 -c '
import json, sys
root = json.load(open(sys.argv[1]))
assert root["@odata.id"] == "/redfish/v1", root
assert root["@odata.type"].startswith("#ServiceRoot."), root
print("test-deb-systemd: ServiceRoot %s, RedfishVersion %s" % (root["@odata.type"], root["RedfishVersion"]))
' "$run/root/root/root.json"
}
get_root() { # curl inside the container, as an administrator would on the machine
    [ "$(in_ct curl -sS --max-time 5 "$@" -o /root/root.json -w '%{http_code}' \
        https://localhost:9443/redfish/v1/)" = 200 ] && root_is_service_root
}
check "GET https://localhost:9443/redfish/v1/ with --cacert /var/lib/vsc/tls/cert.pem" \
    wait_for 10 get_root --cacert /var/lib/vsc/tls/cert.pem
password=$(cat "$run/root/var/lib/vsc/initial-admin-password")
redfish() { # redfish METHOD PATH [JSON]: the body on stdout, the status in $run/code
    in_ct curl -sS --max-time 10 -k -u "admin:$password" -X "$1" -H 'Content-Type: application/json' \
        ${3:+-d "$3"} -o /root/body.json -w '%{http_code}' "https://127.0.0.1:9443$2" >"$run/code"
    cat "$run/root/root/body.json"
}
redfish GET /redfish/v1/Managers/bmc >/dev/null
check "GET /redfish/v1/Managers/bmc as admin with the initial password: 200" test "$(cat "$run/code")" = 200

# ---- ports: pty and unix, data both ways ------------------------------------------------
json_field() { python3 -c 'import json,sys; d=json.load(sys.stdin); print(eval(sys.argv[1]))' "$1"; }
allocate() { # allocate UUID NAME BACKEND: prints the BindPath of its port 1
    local body
    body=$(redfish POST /redfish/v1/Managers/bmc/Actions/Oem/Vsc.AllocatePorts \
        "{\"VMUUID\":\"$1\",\"VMName\":\"$2\",\"PortCount\":1,\"Backend\":\"$3\"}")
    case $(cat "$run/code") in 200 | 201) ;; *)
        echo "AllocatePorts $3: HTTP $(cat "$run/code"): $body" >&2
        return 1
        ;;
    esac
    printf '%s' "$body" | json_field 'd["Ports"][0]["BindPath"] + " " + d["Ports"][0]["Id"]'
}
transcript_has() { # transcript_has UUID TEXT
    redfish GET "/redfish/v1/Systems/$1/LogServices/Console/Oem/Vsc/Transcript" | grep -q "$2"
}
# round_trip BACKEND UUID PORT VM_PID EOL GOT: the "VM" (VM_PID, started just before) has
# printed vsc-BACKEND-hello, which must reach the transcript; then what Vsc.SendInput types,
# typed-into-BACKEND and the JSON escape EOL, must reach the VM, which wrote it to GOT.
round_trip() {
    check "$1: what the VM prints reaches the transcript" wait_for 15 transcript_has "$2" "vsc-$1-hello"
    redfish POST /redfish/v1/Managers/bmc/Actions/Oem/Vsc.SendInput \
        "{\"Ports\":[\"$3\"],\"Data\":\"typed-into-$1$5\"}" >/dev/null
    wait "$4" || true
    check "$1: Vsc.SendInput reaches the VM" grep -q "typed-into-$1" "$6"
}
pty_uuid=6b1c2f0e-3d4a-4b5c-8d9e-0f1a2b3c4d01
unix_uuid=6b1c2f0e-3d4a-4b5c-8d9e-0f1a2b3c4d02
allocated=$(allocate $pty_uuid pty-vm pty) || fail "AllocatePorts pty"
read -r pty_path pty_port <<<"$allocated"
say "pty port $pty_port: $pty_path -> $(in_ct readlink "$pty_path")"
check "pty BindPath is a terminal in the container's /dev/pts" \
    in_ct sh -c "readlink '$pty_path' | grep -q '^/dev/pts/' && test -c '$pty_path'"
# The "VM" opens the slave, prints a line and waits for what Vsc.SendInput types.
in_ct timeout 20 bash -c 'exec 3<>"$0"; stty -F "$0" raw -echo; printf "vsc-pty-hello\r\n" >&3;
    read -r -t 15 line <&3; printf "%s\n" "$line" >/root/pty-got' "$pty_path" &
round_trip pty $pty_uuid "$pty_port" $! '\n' "$run/root/root/pty-got"

allocated=$(allocate $unix_uuid unix-vm unix) || fail "AllocatePorts unix"
read -r unix_path unix_port <<<"$allocated"
say "unix port $unix_port: $unix_path"
check "unix BindPath is a socket" in_ct test -S "$unix_path"
# The "VM" (host python; the socket inode is the container's) connects, prints, reads.
timeout 20 python3 -c '
import os, socket, sys, time
os.chdir(os.path.dirname(sys.argv[1]))
s = socket.socket(socket.AF_UNIX)
s.connect(os.path.basename(sys.argv[1]))
s.sendall(b"vsc-unix-hello\r\n")
s.settimeout(15)
got = b""
while b"typed-into-unix" not in got:
    chunk = s.recv(4096)
    if not chunk:
        break
    got += chunk
open(sys.argv[2], "wb").write(got)
' "$run/root$unix_path" "$run/unix-got" &
round_trip unix $unix_uuid "$unix_port" $! '\r' "$run/unix-got"
for uuid in $pty_uuid $unix_uuid; do
    redfish POST /redfish/v1/Managers/bmc/Actions/Oem/Vsc.FreePorts "{\"VMUUID\":\"$uuid\"}" >/dev/null
    check "FreePorts $uuid: 200" test "$(cat "$run/code")" = 200
done
check "the ports' paths are gone" in_ct test ! -e "$pty_path" -a ! -e "$unix_path"
# What the sandbox refuses shows up as an error or a warning in vscd's own log.
quiet_log() {
    local log
    log=$(in_ct journalctl --no-pager -o cat "_PID=$main_pid")
    [ -n "$log" ] && ! printf '%s\n' "$log" | grep -iE 'vscd: (error|warning)|denied|not permitted'
}
check "vscd logged no error or warning so far" quiet_log

# ---- reload, watchdog -------------------------------------------------------------------
check "systemctl reload vscd" in_ct timeout 30 systemctl reload vscd.service
check "active, same MainPID after reload" test "$(unit_prop ActiveState) $(unit_prop MainPID)" = "active $main_pid"
ping1=$(unit_prop WatchdogTimestampMonotonic)
sleep 16 # vscd pings every 15 s
ping2=$(unit_prop WatchdogTimestampMonotonic)
check "watchdog pings arrive (WatchdogTimestamp $ping1 -> $ping2 us)" test "$ping2" -gt "$ping1"
check "no restart so far (NRestarts=0)" test "$(unit_prop NRestarts)" = 0
# A stuck event loop: SIGSTOP. systemd must give up on it within WatchdogSec=30s of the last
# ping (SIGABRT, then SIGCONT so a stopped process gets it) and Restart=on-failure must start
# a new one.
stop_at=$SECONDS
in_ct kill -STOP "$main_pid"
check "stopped vscd: watchdog timeout (Result=watchdog)" \
    wait_for 45 sh -c "[ \"\$(nsenter -t $leader -a systemctl show -P Result vscd)\" = watchdog ]"
say "watchdog fired $((SECONDS - stop_at)) s after SIGSTOP"
restarted() { [ "$(unit_prop NRestarts) $(unit_prop ActiveState)" = "1 active" ]; }
check "restarted by Restart=on-failure (NRestarts=1, active)" wait_for 45 restarted
check "a new MainPID" test "$(unit_prop MainPID)" != "$main_pid"
check "GET the service root after the restart" wait_for 10 get_root -k
check "the journal names the watchdog" sh -c "nsenter -t $leader -a journalctl -u vscd --no-pager |
    grep -q 'Watchdog timeout'"

# ---- stop, purge ------------------------------------------------------------------------
check "systemctl stop vscd" in_ct timeout 40 systemctl stop vscd.service
check "inactive, Result=success after stop" test "$(unit_prop ActiveState) $(unit_prop Result)" = "inactive success"
in_ct env DEBIAN_FRONTEND=noninteractive timeout 120 apt-get purge -y vsc >"$run/purge.log" 2>&1 || {
    cat "$run/purge.log" >&2
    fail "apt-get purge vsc"
}
check "package gone" sh -c "! nsenter -t $leader -a dpkg-query -W -f='\${Status}' vsc 2>/dev/null | grep -q installed"
check "user and group vsc removed" sh -c "! nsenter -t $leader -a getent passwd vsc && ! nsenter -t $leader -a getent group vsc"
for f in /var/lib/vsc /etc/vsc /usr/sbin/vscd /lib/systemd/system/vscd.service \
    /etc/systemd/system/multi-user.target.wants/vscd.service; do
    check "removed $f" in_ct test ! -e "$f" -a ! -L "$f"
done
check "systemd knows no vscd.service any more" \
    test "$(unit_prop LoadState)" = not-found
check "no failed unit left" test -z "$(in_ct systemctl list-units --failed --plain --no-legend)"

# scripts/test-deb.sh's own branch for a machine whose PID 1 is systemd, which no CI machine
# has: on the purged container, with what it needs (scripts/deps pkgtest) from the cache.
in_ct env DEBIAN_FRONTEND=noninteractive timeout 120 apt-get install -y --no-install-recommends \
    $test_deb_needs >"$run/apt-pkgtest.log" 2>&1 || {
    cat "$run/apt-pkgtest.log" >&2
    fail "apt-get install $test_deb_needs"
}
test_deb_ran() {
    in_ct timeout 180 /src/scripts/test-deb.sh "$deb" >"$run/test-deb.log" 2>&1 || {
        cat "$run/test-deb.log" >&2
        return 1
    }
    grep -E 'systemd is PID 1|exposure|passed, 0 failed' "$run/test-deb.log" | sed 's/^/    /'
    grep -q 'systemd is PID 1' "$run/test-deb.log"
}
check "scripts/test-deb.sh inside, under systemd" test_deb_ran

stop_container
check "container powered off" test -z "$nspawn_pid"
say "took $((SECONDS - started)) s"
echo "$passed passed, 0 failed"
