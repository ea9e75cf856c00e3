#!/bin/sh
# run-vm.sh — start a QEMU VM whose serial ports vscd serves (see README.md here).
#
#   run-vm.sh [options] KERNEL [INITRD] [-- QEMU ARGUMENTS...]
#
#   -n NAME     VM name (default vsc-demo); vscd publishes its ports as <ports>/NAME/<n>
#   -u UUID     VM UUID (default: a new random one)
#   -p COUNT    serial ports, 1..16 (default 1): ttyS0..ttyS3, then PCI 16550s
#   -b BACKEND  unix (default: QEMU connects to vscd's socket and reconnects after a vscd
#               restart) or pty (QEMU opens the pseudo-terminal vscd holds)
#   -m MIB      memory (default 256)
#   -a ACCEL    kvm or tcg (default: kvm when /dev/kvm is usable, else tcg)
#   -A TEXT     more kernel command line (console=ttyS0 is always there)
#
# It allocates the ports (Vsc.AllocatePorts), starts QEMU in the foreground bound to them,
# and frees them (Vsc.FreePorts) when QEMU exits, however it exits. Settings from the
# environment:
#   VSC_URL (https://127.0.0.1:8443), VSC_USER (admin), VSC_PASSWORD or VSC_PASSWORD_FILE,
#   VSC_CACERT (CA of vscd's certificate) or VSC_INSECURE=1, QEMU (qemu-system-x86_64).
set -u

usage() {
    sed -n '3,14p' "$0" | sed 's/^# \{0,1\}//' >&2
    exit 2
}

name=vsc-demo uuid='' count=1 backend=unix mem=256 accel='' append=''
while getopts n:u:p:b:m:a:A:h opt; do
    case $opt in
    n) name=$OPTARG ;;
    u) uuid=$OPTARG ;;
    p) count=$OPTARG ;;
    b) backend=$OPTARG ;;
    m) mem=$OPTARG ;;
    a) accel=$OPTARG ;;
    A) append=$OPTARG ;;
    *) usage ;;
    esac
done
shift $((OPTIND - 1))
[ $# -ge 1 ] || usage
kernel=$1
shift
initrd=
if [ $# -ge 1 ] && [ "$1" != -- ]; then
    initrd=$1
    shift
fi
[ "${1:-}" != -- ] || shift
case $backend in unix | pty) ;; *) echo "run-vm.sh: -b unix or -b pty" >&2; exit 2 ;; esac
case $count in [1-9] | 1[0-6]) ;; *) echo "run-vm.sh: -p 1..16" >&2; exit 2 ;; esac
[ -r "$kernel" ] || { echo "run-vm.sh: cannot read kernel $kernel" >&2; exit 2; }
[ -z "$initrd" ] || [ -r "$initrd" ] || { echo "run-vm.sh: cannot read initrd $initrd" >&2; exit 2; }
[ -n "$uuid" ] || uuid=$(cat /proc/sys/kernel/random/uuid)
if [ -z "$accel" ]; then
    if [ -r /dev/kvm ] && [ -w /dev/kvm ]; then accel=kvm; else accel=tcg; fi
fi
QEMU=${QEMU:-qemu-system-x86_64}
VSC_URL=${VSC_URL:-https://127.0.0.1:8443}
ACTIONS=$VSC_URL/redfish/v1/Managers/bmc/Actions/Oem

# POSTs JSON to an action; prints the response body; fails unless 200. The credentials go
# to curl on stdin, not on its command line (where `ps` would show them).
vsc() {
    action=$1 body=$2
    shift 2
    pw=${VSC_PASSWORD:-}
    [ -z "${VSC_PASSWORD_FILE:-}" ] || pw=$(head -n 1 "$VSC_PASSWORD_FILE")
    if [ "${VSC_INSECURE:-0}" = 1 ]; then set -- --insecure
    elif [ -n "${VSC_CACERT:-}" ]; then set -- --cacert "$VSC_CACERT"
    else set --; fi
    cred=$(printf '%s:%s' "${VSC_USER:-admin}" "$pw" | sed 's/\\/\\\\/g; s/"/\\"/g')
    out=$(printf 'user = "%s"\n' "$cred" |
        curl -sS -K - --max-time 10 -H 'Content-Type: application/json' \
            -w '\n%{http_code}' -d "$body" "$@" "$ACTIONS/$action" 2>&1)
    code=$(printf '%s' "$out" | tail -n 1)
    printf '%s\n' "$out" | sed '$d'
    [ "$code" = 200 ]
}

body="{\"VMUUID\":\"$uuid\",\"VMName\":\"$name\",\"PortCount\":$count,\"Backend\":\"$backend\"}"
if ! reply=$(vsc Vsc.AllocatePorts "$body"); then
    echo "run-vm.sh: AllocatePorts failed: $reply" >&2
    exit 1
fi

freed=0
# shellcheck disable=SC2317  # run by the traps
free_ports() {
    [ "$freed" = 0 ] || return 0
    freed=1
    if reply=$(vsc Vsc.FreePorts "{\"VMUUID\":\"$uuid\"}"); then
        echo "run-vm.sh: freed the ports of $name ($uuid)" >&2
    else
        echo "run-vm.sh: FreePorts failed: $reply" >&2
    fi
}
trap free_ports EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

# One BindPath per port, in port order (the response lists them by Index).
paths=$(printf '%s' "$reply" | grep -o '"BindPath":"[^"]*"' | sed 's/^"BindPath":"//; s/"$//')
sockets=$(printf '%s' "$reply" | grep -o '"ConsoleSocket":"[^"]*"' | sed 's/^"ConsoleSocket":"//; s/"$//')
[ "$(printf '%s\n' "$paths" | grep -c .)" = "$count" ] || {
    echo "run-vm.sh: unexpected AllocatePorts answer: $reply" >&2
    exit 1
}

# The QEMU arguments for each port. QEMU option values double their commas.
chardevs=
i=0
for p in $paths; do
    q=$(printf '%s' "$p" | sed 's/,/,,/g')
    if [ "$backend" = unix ]; then
        chardevs="$chardevs -chardev socket,id=s$i,path=$q,reconnect=1"
    else
        chardevs="$chardevs -chardev serial,id=s$i,path=$q"
    fi
    if [ $i -lt 4 ]; then
        chardevs="$chardevs -serial chardev:s$i"
    else
        chardevs="$chardevs -device pci-serial,chardev=s$i"
    fi
    echo "run-vm.sh: port $((i + 1)) (ttyS$i): $p" >&2
    i=$((i + 1))
done
[ -z "$sockets" ] || echo "run-vm.sh: local consoles: $(printf '%s' "$sockets" | tr '\n' ' ')" >&2
[ "$count" -le 4 ] || append="$append 8250.nr_uarts=$count"

# $chardevs is split on blanks on purpose: vscd's paths have none (names are [A-Za-z0-9._-]).
# shellcheck disable=SC2086
set -- "$QEMU" -accel "$accel" -m "$mem" -nodefaults -no-user-config -display none \
    -no-reboot -kernel "$kernel" ${initrd:+-initrd "$initrd"} \
    -append "console=ttyS0 panic=-1 $append" $chardevs "$@"
echo "run-vm.sh: $*" >&2
# QEMU runs in the background so that a signal to this script acts at once: the shell runs
# a trap only after the foreground command ends, so `kill <this script>` used to wait for
# the guest to power off. Now the signal stops QEMU, and the script exits 128+N after it
# (freeing the ports). QEMU keeps this script's standard input (fd 3).
status=
qemu=
# shellcheck disable=SC2317  # run by the traps
stop_qemu() {
    status=$1
    [ -z "$qemu" ] || kill -TERM "$qemu" 2>/dev/null
}
trap 'stop_qemu 130' INT
trap 'stop_qemu 143' TERM
trap 'stop_qemu 129' HUP
exec 3<&0
"$@" <&3 3<&- &
qemu=$!
exec 3<&-
[ -z "$status" ] || kill -TERM "$qemu" 2>/dev/null # a signal came before QEMU had a pid
wait "$qemu"
rc=$?
# A trapped signal ends `wait` early (status 128+N) while QEMU is still stopping.
while kill -0 "$qemu" 2>/dev/null; do
    wait "$qemu"
    rc=$?
done
echo "run-vm.sh: QEMU exited with $rc" >&2
exit "${status:-$rc}"
