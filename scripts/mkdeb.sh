#!/bin/sh
# Builds a Debian package from a staged install: mkdeb.sh ROOT VERSION OUT.deb
# (`make deb` stages ROOT with `make install DESTDIR=ROOT PREFIX=/usr`). Control data from
# packaging/debian/; Depends from dpkg-shlibdeps on the two binaries, plus adduser (postinst
# makes the system user with it) and procps (the unit's ExecReload= is its /bin/kill, which a
# minimal Debian lacks). Man pages compressed, files owned by root (dpkg-deb
# --root-owner-group), so no fakeroot is needed.
set -eu

root=$(cd "$1" && pwd) version=$2 out=$3
here=$(cd "$(dirname "$0")/.." && pwd)
pkg=$here/packaging/debian
arch=$(dpkg --print-architecture)

gzip -9nf "$root"/usr/share/man/man*/*.[0-9]
mkdir -p "$root/usr/share/doc/vsc"
printf 'vsc (%s) is built from its own sources; see the project README.\n' "$version" \
    >"$root/usr/share/doc/vsc/copyright"

# dpkg-shlibdeps wants a debian/control beside it; a minimal one in a scratch folder.
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/debian"
printf 'Source: vsc\n\nPackage: vsc\nArchitecture: any\n' >"$work/debian/control"
shlibs=$(cd "$work" && dpkg-shlibdeps -O "$root/usr/sbin/vscd" "$root/usr/bin/vsc-console" |
    sed -n 's/^shlibs:Depends=//p')
[ -n "$shlibs" ] || { echo "mkdeb: dpkg-shlibdeps found no dependencies" >&2; exit 1; }

rm -rf "$root/DEBIAN"
install -d -m 0755 "$root/DEBIAN"
size=$(du -sk --exclude=DEBIAN "$root" | cut -f1)
sed -e "s|@VERSION@|$version|" -e "s|@ARCH@|$arch|" -e "s|@SIZE@|$size|" \
    -e "s|@DEPENDS@|$shlibs, adduser, procps|" "$pkg/control.in" >"$root/DEBIAN/control"
install -m 0644 "$pkg/conffiles" "$root/DEBIAN/conffiles"
for script in postinst prerm postrm; do
    install -m 0755 "$pkg/$script" "$root/DEBIAN/$script"
done
(cd "$root" && find . -path ./DEBIAN -prune -o -type f -printf '%P\0' | sort -z |
    xargs -0 md5sum) >"$root/DEBIAN/md5sums"
chmod 0644 "$root/DEBIAN/md5sums"

dpkg-deb --root-owner-group -Zxz --build "$root" "$out"
echo "mkdeb: $out"
dpkg-deb --info "$out" | sed -n 's/^ \(Package\|Version\|Architecture\|Depends\):/  \1:/p'
