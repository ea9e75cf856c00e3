#!/bin/sh
# make-initrd.sh OUT — a tiny busybox initramfs for trying run-vm.sh (Debian: busybox-static
# and cpio). The VM says hello on every serial port, runs a shell on ttyS0 (the console),
# and powers off when that shell exits (type `exit` or Ctrl-D).
set -eu
out=${1:?usage: make-initrd.sh OUT}
busybox=$(command -v busybox) || { echo "make-initrd.sh: install busybox-static" >&2; exit 1; }
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
mkdir -p "$dir/bin" "$dir/dev" "$dir/proc" "$dir/sys"
cp "$busybox" "$dir/bin/busybox"
ln -s busybox "$dir/bin/sh"
cat >"$dir/init" <<'EOF'
#!/bin/sh
/bin/busybox --install -s /bin
mount -t devtmpfs dev /dev
mount -t proc proc /proc
mount -t sysfs sys /sys
for tty in /dev/ttyS*; do
    [ -e "/sys/class/tty/${tty#/dev/}/device" ] || continue
    echo "vsc-demo: hello from $(uname -n) on ${tty#/dev/}" >"$tty" 2>/dev/null
done
echo "vsc-demo: shell on the console; exit powers off"
setsid cttyhack sh
poweroff -f
EOF
chmod 755 "$dir/init"
(cd "$dir" && find . | cpio -o -H newc --quiet | gzip -9) >"$out"
echo "make-initrd.sh: wrote $out" >&2
