#!/usr/bin/env bash
# build-deb.sh -- build logtap's Debian package from this tree, in one go.
#
#   scripts/build-deb.sh [OUTDIR]      (default OUTDIR: build-deb/)
#
# A release build (OUTDIR/build, kept between runs so a rebuild is quick)
# is installed with `meson install --destdir` into a staging tree
# (OUTDIR/stage, made anew), which gets what meson does not install -- the
# systemd unit, the default config file, the maintainer scripts from
# packaging/debian/ -- and is packed with `dpkg-deb --build`. The shared
# libraries the package needs come from dpkg-shlibdeps. The last line
# printed is the path of the .deb. Needs meson, ninja, dpkg-dev
# (scripts/install-deps.sh); not root: dpkg-deb --root-owner-group makes
# every file root's.
set -euo pipefail
case "${1:-}" in
  -h|--help) sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
  -*) echo "build-deb: unknown option '$1' (try --help)" >&2; exit 2 ;;
esac

src=$(cd "$(dirname "$0")/.." && pwd)
out=$(mkdir -p "${1:-$src/build-deb}" && cd "${1:-$src/build-deb}" && pwd)
build=$out/build
stage=$out/stage
pkgdir=$src/packaging/debian

for tool in meson dpkg-deb dpkg-shlibdeps; do
  command -v "$tool" >/dev/null || { echo "build-deb: $tool is missing (scripts/install-deps.sh)" >&2; exit 1; }
done

# The package's paths: /usr, the multiarch libdir Debian's meson picks,
# and the Python module where Debian's python3 finds it.
setup_args=(--prefix=/usr --buildtype=release -Db_sanitize=none -Dfuzz=false -Dsystemd=enabled
  -Dpython_dir=lib/python3/dist-packages)
if [ -f "$build/build.ninja" ]; then
  meson configure "$build" "${setup_args[@]}" >/dev/null
else
  meson setup "$build" "$src" "${setup_args[@]}" >/dev/null
fi
# Only what is installed: the tests and benchmarks are not part of the package.
meson compile -C "$build" logtap:executable logtap-collector:executable logtap:shared_library >/dev/null

rm -rf "$stage"
meson install -C "$build" --no-rebuild --strip --destdir "$stage" >/dev/null

install -D -m 0644 "$pkgdir/logtap-collector.service" "$stage/lib/systemd/system/logtap-collector.service"
install -D -m 0644 "$pkgdir/collector.conf" "$stage/etc/logtap/collector.conf"
# Debian's man pages are compressed; -n keeps the package reproducible.
find "$stage/usr/share/man" -type f -name '*.[0-9]' -exec gzip -9n {} +
# A preload is loaded, not executed.
find "$stage/usr/lib" -name 'liblogtap.so*' -type f -exec chmod 0644 {} +
doc=$stage/usr/share/doc/logtap
install -D -m 0644 "$src/README.md" "$doc/README.md"
gzip -9n "$doc/README.md"
install -m 0644 "$pkgdir/copyright" "$doc/copyright"

# dpkg-shlibdeps reads debian/control from the directory it runs in.
version=$(meson introspect --projectinfo "$build" | python3 -c 'import json,sys; print(json.load(sys.stdin)["version"])')
version=${LOGTAP_DEB_VERSION:-$version}
arch=$(dpkg --print-architecture)
shlib_work=$out/shlibdeps
rm -rf "$shlib_work" && mkdir -p "$shlib_work/debian"
printf 'Source: logtap\n\nPackage: logtap\nArchitecture: any\n' > "$shlib_work/debian/control"
mapfile -t elves < <(find "$stage" -type f \( -name '*.so*' -o -perm -u+x \) -exec sh -c 'head -c4 "$1" | grep -q ELF' _ {} \; -print)
shlibs=$(cd "$shlib_work" && dpkg-shlibdeps -O "${elves[@]}" 2>/dev/null | sed -n 's/^shlibs:Depends=//p')
[ -n "$shlibs" ] || { echo "build-deb: dpkg-shlibdeps found no dependencies" >&2; exit 1; }

# A native package's changelog: one entry, dated by the tree's last commit.
when=$(git -C "$src" log -1 --format=%cD 2>/dev/null || date -R)
printf 'logtap (%s) unstable; urgency=medium\n\n  * Built from the tree by scripts/build-deb.sh.\n\n -- %s  %s\n' \
  "$version" "$(sed -n 's/^Maintainer: //p' "$pkgdir/control.in")" "$when" | gzip -9n > "$doc/changelog.gz"

mkdir -p "$stage/DEBIAN"
installed_size=$(du -sk --exclude=DEBIAN "$stage" | cut -f1)
sed -e "s/@VERSION@/$version/" -e "s/@ARCH@/$arch/" -e "s/@INSTALLED_SIZE@/$installed_size/" \
  -e "s/@SHLIBS@/$shlibs/" "$pkgdir/control.in" > "$stage/DEBIAN/control"
install -m 0644 "$pkgdir/conffiles" "$stage/DEBIAN/conffiles"
install -m 0644 "$pkgdir/triggers" "$stage/DEBIAN/triggers"
for script in postinst prerm postrm; do
  install -m 0755 "$pkgdir/$script" "$stage/DEBIAN/$script"
done

deb=$out/logtap_${version}_${arch}.deb
dpkg-deb --root-owner-group -Zxz --build "$stage" "$deb" >/dev/null
echo "$deb"
