#!/bin/sh
# mkinitramfs.sh OUT — the initramfs (cpio.gz) of the tiny test VM: busybox and an /init
# that plays one scenario on the serial console ttyS0 (docs/tiny-vm.md).
#
# Kernel command line (besides console=ttyS0):
#   vsc.host=NAME        host name (default vsc-vm): the login prompt is `NAME login: `
#   vsc.panic_after=N    with login: the kernel crashes (sysrq c) N seconds after /init
#                        starts, on the first boot only (the demo's panicking VM)
#   vsc.scenario=WHAT    login     a login prompt (getty/login; root, password `vsc`)
#                        autologin a few service lines, then root logged in on ttyS0 as
#                                  agetty --autologin does (`NAME login: root (automatic
#                                  login)`), a heartbeat line every 30 s; the demo's VMs
#                        shell     a root shell on ttyS0 (prompt `root@NAME:~# `); exit
#                                  powers the VM off
#                        panic     boot, a few lines, then a kernel crash (sysrq c)
#                        poweroff  boot, then `poweroff -f`
#                        reboot    boot, then `reboot -f`
# panic, poweroff and reboot act on the VM's first boot only: a boot after a reset (a
# reboot, or a panic with panic=N) shows the login prompt. The boot count survives resets
# in a byte of the emulated CMOS RAM, which QEMU keeps until the process exits.
#
# Needs Debian's busybox-static and cpio. Built by `make vm-image` into build/vm/.
set -eu
out=${1:?usage: mkinitramfs.sh OUT}
busybox=$(command -v busybox) || { echo "mkinitramfs.sh: install busybox-static" >&2; exit 1; }
command -v cpio >/dev/null || { echo "mkinitramfs.sh: install cpio" >&2; exit 1; }
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
mkdir -p "$dir/bin" "$dir/sbin" "$dir/dev" "$dir/proc" "$dir/sys" "$dir/etc" "$dir/root" \
    "$dir/tmp"
cp "$busybox" "$dir/bin/busybox"
ln -s busybox "$dir/bin/sh"

# root's password is `vsc` (a fixed salt keeps the image reproducible).
cat >"$dir/etc/passwd" <<'PASSWD'
root:$6$vscvmsalt$9C4S8YryqLoIfdlYEs7UDeEFxJrF0zT0CrhoJcdEz.VFEDgwiv2vORU4RGvu9oF1EyhQJRXGsi.w0CaNX5Z7r0:0:0:root:/root:/bin/sh
PASSWD
echo "root:x:0:" >"$dir/etc/group"
echo "/bin/sh" >"$dir/etc/shells"
printf 'vsc test VM (busybox) \\n \\l\n\n' >"$dir/etc/issue"
cat >"$dir/etc/profile" <<'PROFILE'
export PATH=/bin:/sbin HOME=/root
export PS1='\u@\h:\w\$ '
cd
PROFILE

cat >"$dir/init" <<'INIT'
#!/bin/sh
# /init of the vsc test VM (tests/vm/mkinitramfs.sh); PID 1, its output goes to ttyS0.
/bin/busybox --install -s /bin
mount -t devtmpfs dev /dev
mount -t proc proc /proc
mount -t sysfs sys /sys
host=vsc-vm scenario=login panic_after=
for arg in $(cat /proc/cmdline); do
    case $arg in
    vsc.host=*) host=${arg#vsc.host=} ;;
    vsc.scenario=*) scenario=${arg#vsc.scenario=} ;;
    vsc.panic_after=*) panic_after=${arg#vsc.panic_after=} ;;
    esac
done
hostname "$host"

# Boot count in CMOS RAM byte 0x6c (unused by SeaBIOS): index to port 0x70, data at 0x71.
cmos_index() { printf '\154' | dd of=/dev/port bs=1 seek=112 count=1 conv=notrunc 2>/dev/null; }
cmos_index
boots=$(dd if=/dev/port bs=1 skip=113 count=1 2>/dev/null | od -An -tu1 | tr -d ' ')
boots=$(( ${boots:-0} + 1 ))
cmos_index
printf "\\$(printf %o $((boots % 256)))" | dd of=/dev/port bs=1 seek=113 count=1 conv=notrunc 2>/dev/null

say() { echo "vsc-vm: $*"; }
say "init on $(uname -n), kernel $(uname -r), boot $boots, scenario $scenario"
[ "$boots" -eq 1 ] || [ "$scenario" = autologin ] || scenario=login

case $scenario in
panic)
    say "mounted /proc /sys /dev"
    say "crashing the kernel (echo c > /proc/sysrq-trigger)"
    sleep 1
    echo c >/proc/sysrq-trigger
    ;;
poweroff)
    say "powering off"
    sleep 1
    poweroff -f
    ;;
reboot)
    say "rebooting"
    sleep 1
    reboot -f
    ;;
shell)
    say "shell on ttyS0; exit powers off"
    setsid cttyhack sh -l
    poweroff -f
    ;;
esac
# login, autologin, and any other boot: a login prompt on ttyS0 (or an automatic login),
# again after each logout.
if [ -n "$panic_after" ] && [ "$boots" -eq 1 ]; then
    say "this VM's kernel will crash in $panic_after seconds"
    (sleep "$panic_after"; echo c >/proc/sysrq-trigger) &
fi
getty_args=
if [ "$scenario" = autologin ]; then
    getty_args="-n -l /bin/autologin"
    for svc in syslogd crond httpd; do
        say "starting $svc ... ok"
    done
    (while sleep 30; do
        say "heartbeat: up $(cut -d' ' -f1 /proc/uptime) s, load $(cut -d' ' -f1-3 /proc/loadavg)"
    done) >/dev/ttyS0 2>&1 &
fi
while :; do
    getty $getty_args -L 115200 ttyS0 vt100
    sleep 1
done
INIT
chmod 755 "$dir/init"
# autologin: what agetty --autologin prints, then a root shell without a password.
cat >"$dir/bin/autologin" <<'AUTOLOGIN'
#!/bin/sh
echo "$(hostname) login: root (automatic login)"
exec login -f root
AUTOLOGIN
chmod 755 "$dir/bin/autologin"
tmp="$out.tmp$$"
(cd "$dir" && find . | LC_ALL=C sort | cpio -o -H newc -R 0:0 --quiet | gzip -9n) >"$tmp"
mv "$tmp" "$out"
echo "mkinitramfs.sh: wrote $out" >&2
