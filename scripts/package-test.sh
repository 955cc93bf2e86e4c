#!/usr/bin/env bash
# The Debian packages on a fresh machine (issue 16 item 1), as root:
#   1. build zvhd, libzvh0 and libzvh-dev with CPack (a Release build, /usr)
#   2. debootstrap a clean minimal Debian 12 root (minbase bookworm, from the
#      mirror this machine's apt uses) under /work/tmp-deb
#   3. in a chroot: apt-get install ./zvhd_*.deb ./libzvh0_*.deb (apt takes
#      the dependencies from the mirror); check the user, directories, files
#      and --version
#   4. configure one region the way docs/OPERATIONS.md says (zvhctl keygen,
#      zvhctl datakey, /etc/zvhd/zvhd.cfg, the region's entry in
#      /etc/zvhd/regions.zpl), start the installed zvhd as user zvhd (no
#      systemd in a chroot), wait until zvhctl status answers, include a
#      case, stop it with SIGTERM (exit 0)
#   5. reinstall (the config stays as it is), install libzvh-dev (pkg-config
#      finds libzvh), purge zvhd (/var/lib/zvhd goes, /etc/zvhd stays)
# and prints "package-test: PASS (N s)" or "package-test: FAIL: reason".
# The root is removed at the end, pass or fail.
#
#   scripts/package-test.sh          (or: cmake --build BUILD --target package-test)
#
# Environment: ZVH_PACKAGE_BUILD_DIR (default build-deb), ZVH_PACKAGE_TEST_ROOT
# (default /work/tmp-deb), ZVH_DEBIAN_MIRROR (default: the first Debian
# mirror in /etc/apt/sources.list(.d), else http://deb.debian.org/debian).
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${ZVH_PACKAGE_BUILD_DIR:-build-deb}
ROOT=${ZVH_PACKAGE_TEST_ROOT:-/work/tmp-deb}
START=$(date +%s)
ZVHD_PID=
MOUNTS=()

say() { printf 'package-test: %s\n' "$*"; }
fail() {
    say "FAIL: $*"
    if [ -s "$ROOT/var/log/zvhd-package-test.log" ]; then
        say "zvhd's log:"; sed 's/^/    /' "$ROOT/var/log/zvhd-package-test.log" | tail -20
    fi
    exit 1
}
trap 'fail "command failed at line $LINENO: $BASH_COMMAND"' ERR

if [ "$(id -u)" -ne 0 ]; then
    echo "package-test: FAIL: run as root (debootstrap and chroot need it)" >&2
    exit 1
fi

unmount_all() {
    local i
    for ((i = ${#MOUNTS[@]} - 1; i >= 0; i--)); do
        umount "${MOUNTS[$i]}" 2>/dev/null || umount -l "${MOUNTS[$i]}" 2>/dev/null || true
    done
    MOUNTS=()
}
# Removes the root only once nothing is mounted below it
remove_root() {
    [ -d "$ROOT" ] || return 0
    local mounted
    mounted=$(awk -v r="$ROOT" 'index($2, r "/") == 1 {print $2}' /proc/mounts | sort -r)
    for m in $mounted; do umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true; done
    if awk -v r="$ROOT" 'index($2, r "/") == 1 {found = 1} END {exit !found}' /proc/mounts; then
        echo "package-test: $ROOT still has mounts below it; not removed" >&2
        return 0
    fi
    rm -rf --one-file-system "$ROOT"
}
cleanup() {
    local rc=$?
    trap - ERR
    if [ -n "$ZVHD_PID" ] && kill -0 "$ZVHD_PID" 2>/dev/null; then
        kill -TERM "$ZVHD_PID" 2>/dev/null || true
        wait "$ZVHD_PID" 2>/dev/null || true
    fi
    unmount_all
    remove_root
    say "took $(( $(date +%s) - START )) s"
    exit $rc
}
trap cleanup EXIT

inroot() {
    chroot "$ROOT" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LC_ALL=C.UTF-8 \
        DEBIAN_FRONTEND=noninteractive "$@"
}

# ---- 1. the packages
say "building the packages in $BUILD (Release, prefix /usr)"
scripts/install-deps.sh
missing=()
for tool in debootstrap:debootstrap file:file dpkg-shlibdeps:dpkg-dev; do
    command -v "${tool%%:*}" >/dev/null 2>&1 || missing+=("${tool#*:}")
done
if [ "${#missing[@]}" -gt 0 ]; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        "${missing[@]}" </dev/null >/dev/null
fi
#  CMAKE_SKIP_INSTALL_ALL_DEPENDENCY: cpack builds only what is packaged
#  (below), not the test programs
cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DCMAKE_INSTALL_PREFIX=/usr \
      -DZVH_FUZZ=OFF -DZVH_BENCH=OFF -DCMAKE_SKIP_INSTALL_ALL_DEPENDENCY=ON >/dev/null
cmake --build "$BUILD" -j 2 --target zvhd zvhctl zvh_shared >/dev/null
rm -rf "$BUILD/packages"
(cd "$BUILD" && cpack >cpack.log 2>&1) || { cat "$BUILD/cpack.log"; fail "cpack failed"; }
debs=("$BUILD"/packages/*.deb)
[ "${#debs[@]}" -eq 3 ] || fail "cpack made ${#debs[@]} packages, not 3: ${debs[*]}"
for deb in "${debs[@]}"; do say "built $(basename "$deb")"; done
BUILT=$(date +%s)

# ---- 2. a clean minimal Debian 12
if [ -z "${ZVH_DEBIAN_MIRROR:-}" ]; then
    ZVH_DEBIAN_MIRROR=$(cat /etc/apt/sources.list.d/*.sources 2>/dev/null \
        | awk '/^URIs:/ {for (i = 2; i <= NF; i++) if ($i ~ /\/debian\/?$/) {print $i; exit}}')
fi
if [ -z "${ZVH_DEBIAN_MIRROR:-}" ]; then
    ZVH_DEBIAN_MIRROR=$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null \
        | awk '$1 == "deb" && $3 ~ /^bookworm$/ {for (i = 2; i <= NF; i++) if ($i ~ /^(https?|file):/) {print $i; exit}}')
fi
ZVH_DEBIAN_MIRROR=${ZVH_DEBIAN_MIRROR:-http://deb.debian.org/debian}
remove_root
mkdir -p "$(dirname "$ROOT")"
say "debootstrap --variant=minbase bookworm $ROOT $ZVH_DEBIAN_MIRROR"
debootstrap --variant=minbase bookworm "$ROOT" "$ZVH_DEBIAN_MIRROR" >"$ROOT.debootstrap.log" 2>&1 \
    || { tail -20 "$ROOT.debootstrap.log"; rm -f "$ROOT.debootstrap.log"; fail "debootstrap failed"; }
rm -f "$ROOT.debootstrap.log"
mount -t proc proc "$ROOT/proc"; MOUNTS+=("$ROOT/proc")
mkdir -p "$ROOT/dev/pts"
mount -t devpts -o newinstance,ptmxmode=0666 devpts "$ROOT/dev/pts"; MOUNTS+=("$ROOT/dev/pts")
inroot dpkg-query -W zvhd >/dev/null 2>&1 && fail "the fresh root already has zvhd"
BOOTSTRAPPED=$(date +%s)

# ---- 3. install as the quick start's fresh machine would
mkdir -p "$ROOT/root/debs"
cp "${debs[@]}" "$ROOT/root/debs/"
say "apt-get install ./zvhd_*.deb ./libzvh0_*.deb in the chroot"
inroot apt-get update -qq >/dev/null
inroot sh -c 'cd /root/debs && apt-get install -y -q ./zvhd_*.deb ./libzvh0_*.deb' \
    >"$ROOT/root/apt.log" 2>&1 || { tail -30 "$ROOT/root/apt.log"; fail "apt-get install failed"; }
INSTALLED=$(date +%s)

expect_stat() {     # PATH "MODE OWNER:GROUP" (stat %a %U:%G)
    local got
    got=$(inroot stat -c '%a %U:%G' "$1" 2>/dev/null) || fail "$1 is missing"
    [ "$got" = "$2" ] || fail "$1 is $got, not $2"
}
entry=$(inroot getent passwd zvhd) || fail "no user zvhd"
IFS=: read -r _ _ uid gid _ home shell <<<"$entry"
[ "$uid" -lt 1000 ] || fail "zvhd is not a system user (uid $uid)"
[ "$home" = /var/lib/zvhd ] || fail "zvhd's home is $home, not /var/lib/zvhd"
[ "$shell" = /usr/sbin/nologin ] || fail "zvhd's shell is $shell"
[ "$(inroot getent group zvhd | cut -d: -f3)" = "$gid" ] || fail "zvhd's group is not zvhd"
expect_stat /etc/zvhd "750 root:zvhd"
expect_stat /var/lib/zvhd "700 zvhd:zvhd"
expect_stat /etc/zvhd/regions.zpl "640 root:zvhd"
for file in /usr/bin/zvhd /usr/bin/zvhctl /lib/systemd/system/zvhd.service \
            /usr/share/zvhd/regions.zpl /usr/share/zvhd/partners.example.zpl \
            /usr/share/zvhd/example-plan.json /usr/share/doc/zvhd/OPERATIONS.md \
            /usr/share/doc/zvhd/PROTOCOL.md /usr/share/doc/zvhd/README.md; do
    inroot test -f "$file" || fail "$file is not installed"
done
inroot sh -c 'ls /usr/lib/*/libzvh.so.0' >/dev/null 2>&1 || fail "libzvh.so.0 is not installed"
grep -q '^ExecStart=/usr/bin/zvhd -c /etc/zvhd/zvhd.cfg$' "$ROOT/lib/systemd/system/zvhd.service" \
    || fail "the unit does not run /usr/bin/zvhd"
inroot test -e /etc/systemd/system/multi-user.target.wants/zvhd.service \
    && fail "the unit was enabled without a configuration"
version=$(inroot zvhd --version) || fail "zvhd --version failed"
inroot zvhctl --version >/dev/null || fail "zvhctl --version failed"
say "installed: $version; user zvhd ($uid), /etc/zvhd, /var/lib/zvhd in place"

# ---- 4. one region from the installed files (docs/OPERATIONS.md)
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])' \
       2>/dev/null || echo 17101)
keys=$(inroot zvhctl keygen groningen --dir /etc/zvhd --region groningen) || fail "zvhctl keygen failed"
public_key=$(sed -n 's/^public_key = "\(.*\)"$/\1/p' <<<"$keys")
sign_key=$(sed -n 's/^sign_key = "\(.*\)"$/\1/p' <<<"$keys")
{ [ -n "$public_key" ] && [ -n "$sign_key" ]; } || fail "zvhctl keygen printed no keys: $keys"
inroot zvhctl datakey /etc/zvhd/data.key >/dev/null || fail "zvhctl datakey failed"
inroot chown zvhd:zvhd /etc/zvhd/groningen.key_secret /etc/zvhd/data.key
#  This region's entry in the directory: endpoint, public_key, sign_key
inroot awk -v ep="tcp://127.0.0.1:$port" -v pk="$public_key" -v sk="$sign_key" '
    /^    [a-z0-9-]+ *$/ { here = ($1 == "groningen") }
    here && /^        endpoint = / { print "        endpoint = \"" ep "\""; next }
    here && /^        public_key = / { print "        public_key = \"" pk "\""; next }
    here && /^        sign_key = / { print "        sign_key = \"" sk "\""; next }
    { print }' /etc/zvhd/regions.zpl >"$ROOT/root/regions.zpl"
grep -qF "endpoint = \"tcp://127.0.0.1:$port\"" "$ROOT/root/regions.zpl" \
    || fail "could not fill in groningen in regions.zpl"
cat "$ROOT/root/regions.zpl" >"$ROOT/etc/zvhd/regions.zpl"
cat >"$ROOT/etc/zvhd/zvhd.cfg" <<EOF
zvhd
    region = groningen
    data_dir = /var/lib/zvhd
    bind = "tcp://127.0.0.1:$port"
    secret_key = groningen.key_secret
    directory = regions.zpl
    data_key = data.key
EOF
inroot chown root:zvhd /etc/zvhd/zvhd.cfg
inroot chmod 0640 /etc/zvhd/zvhd.cfg
inroot setpriv --reuid=zvhd --regid=zvhd --init-groups \
    zvhd --check-config /etc/zvhd/zvhd.cfg >"$ROOT/root/check.log" 2>&1 \
    || { cat "$ROOT/root/check.log"; fail "zvhd --check-config refused the region's config"; }
say "starting the installed zvhd as user zvhd (region groningen, port $port)"
chroot "$ROOT" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LC_ALL=C.UTF-8 \
    setpriv --reuid=zvhd --regid=zvhd --init-groups \
    /usr/bin/zvhd -c /etc/zvhd/zvhd.cfg 2>"$ROOT/var/log/zvhd-package-test.log" &
ZVHD_PID=$!
answered=
for _ in $(seq 150); do
    if status=$(inroot zvhctl -c /etc/zvhd/zvhd.cfg -t 1000 status 2>/dev/null); then
        answered=1; break
    fi
    kill -0 "$ZVHD_PID" 2>/dev/null || fail "zvhd exited before it served"
    sleep 0.2
done
[ -n "$answered" ] || fail "zvhctl status got no answer in 30 s"
grep -q groningen <<<"$status" || fail "zvhctl status does not name groningen: $status"
[ "$(stat -c %u "/proc/$ZVHD_PID")" = "$uid" ] || fail "zvhd does not run as user zvhd"
inroot zvhctl -c /etc/zvhd/zvhd.cfg case include /usr/share/zvhd/example-plan.json \
    --case zvh-pkg-0001 >/dev/null || fail "case include failed"
inroot zvhctl -c /etc/zvhd/zvhd.cfg case show zvh-pkg-0001 | grep -q "^case zvh-pkg-0001: active" \
    || fail "the included case is not active"
say "region groningen serves from the installed files: zvhctl status answers, a case is included"
kill -TERM "$ZVHD_PID"
rc=0; wait "$ZVHD_PID" || rc=$?
ZVHD_PID=
[ "$rc" -eq 0 ] || fail "zvhd exited $rc on SIGTERM, not 0"
[ -z "$(find "$ROOT/var/lib/zvhd" ! -uid "$uid")" ] || fail "files in /var/lib/zvhd not owned by zvhd"

# ---- 5. reinstall keeps the config; libzvh-dev; purge
sums=$(cd "$ROOT/etc/zvhd" && md5sum zvhd.cfg regions.zpl data.key groningen.key_secret)
inroot sh -c 'cd /root/debs && apt-get install -y -q --reinstall ./zvhd_*.deb' \
    >"$ROOT/root/apt.log" 2>&1 || { tail -30 "$ROOT/root/apt.log"; fail "reinstall failed"; }
[ "$(cd "$ROOT/etc/zvhd" && md5sum zvhd.cfg regions.zpl data.key groningen.key_secret)" = "$sums" ] \
    || fail "a reinstall changed /etc/zvhd"
expect_stat /etc/zvhd/zvhd.cfg "640 root:zvhd"
expect_stat /var/lib/zvhd "700 zvhd:zvhd"
inroot sh -c 'cd /root/debs && apt-get install -y -q --no-install-recommends ./libzvh-dev_*.deb pkgconf' \
    >"$ROOT/root/apt.log" 2>&1 || { tail -30 "$ROOT/root/apt.log"; fail "installing libzvh-dev failed"; }
libs=$(inroot pkg-config --libs libzvh) || fail "pkg-config does not find libzvh"
libs=${libs%% }        # pkg-config ends it with a space
[ "$libs" = "-lzvh" ] || fail "pkg-config --libs libzvh says $libs"
inroot test -f /usr/include/zvh/zvh.h || fail "zvh/zvh.h is not installed"
inroot sh -c 'ls /usr/lib/*/libzvh.so' >/dev/null 2>&1 || fail "libzvh.so is not installed"
inroot apt-get purge -y -q zvhd >"$ROOT/root/apt.log" 2>&1 \
    || { tail -30 "$ROOT/root/apt.log"; fail "apt-get purge zvhd failed"; }
inroot test -e /var/lib/zvhd && fail "purge left /var/lib/zvhd"
inroot test -f /etc/zvhd/data.key || fail "purge removed /etc/zvhd (the keys)"
inroot getent passwd zvhd >/dev/null || fail "purge removed the user zvhd"
inroot test -e /usr/bin/zvhd && fail "purge left /usr/bin/zvhd"

END=$(date +%s)
say "build $((BUILT - START)) s, debootstrap $((BOOTSTRAPPED - BUILT)) s, install $((INSTALLED - BOOTSTRAPPED)) s, region and purge $((END - INSTALLED)) s"
say "PASS ($((END - START)) s): zvhd $(cut -d' ' -f2 <<<"$version") packages install on a clean Debian 12 and a region runs from them"
