#!/bin/bash
#  install_tree.sh BUILD_DIR: cmake --install BUILD_DIR into a scratch
#  DESTDIR (prefix /usr/local, as docs/OPERATIONS.md) and check that every
#  file an operator needs is there and the binaries run from it.
set -euo pipefail
build=$1
dest=$(mktemp -d)
trap 'rm -rf "$dest"' EXIT
DESTDIR=$dest cmake --install "$build" --prefix /usr/local > "$dest.log" 2>&1 \
    || { cat "$dest.log"; echo "install_tree: cmake --install failed"; exit 1; }
rm -f "$dest.log"
root=$dest/usr/local
missing=0
for file in bin/zvhd bin/zvhctl lib/systemd/system/zvhd.service \
            lib/systemd/system/zvh-forward@.service \
            share/zvhd/regions.zpl share/zvhd/partners.example.zpl \
            share/doc/zvh-federation/OPERATIONS.md share/doc/zvh-federation/PROTOCOL.md \
            include/zvh/zvh.h; do
    if [ ! -e "$root/$file" ]; then
        echo "install_tree: $file is not installed"
        missing=1
    fi
done
[ $missing -eq 0 ] || exit 1
"$root/bin/zvhd" --version | grep -q "protocol" \
    || { echo "install_tree: the installed zvhd does not run"; exit 1; }
grep -q "^ExecStart=/usr/local/bin/zvhd" "$root/lib/systemd/system/zvhd.service" \
    || { echo "install_tree: the unit does not run the installed zvhd"; exit 1; }
echo "install_tree: every file in place under $root"
