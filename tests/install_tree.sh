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
#  libzvh.a links outside the build: it carries the wire code it calls
lib=$(ls "$root"/lib/libzvh.a "$root"/lib/*/libzvh.a 2>/dev/null | head -n 1 || true)
if [ -n "$lib" ]; then
    cat > "$dest/use_libzvh.c" <<'EOF_C'
#include <zvh/zvh.h>
#include <stdio.h>
int main (void)
{
    zvh_client_t *client = zvh_client_new ("ipc:///nonexistent/control.sock");
    zvh_client_destroy (&client);
    puts (zvh_strerror (ZVH_E_NOT_FOUND));
    return 0;
}
EOF_C
    #  A sanitizer build's objects need the sanitizer runtimes at link time
    sanitize=()
    if nm -u "$lib" 2>/dev/null | grep "__asan_" > /dev/null; then   # not -q: pipefail
        sanitize=(-fsanitize=address,undefined)
    fi
    # shellcheck disable=SC2046 # pkg-config's flags are words
    cc "${sanitize[@]}" -I"$root/include" "$dest/use_libzvh.c" "$lib" \
        $(pkg-config --libs libczmq libzmq libprotobuf-c jansson libsodium) \
        -o "$dest/use_libzvh" \
        || { echo "install_tree: a program does not link against the installed libzvh.a"; exit 1; }
    ASAN_OPTIONS=detect_leaks=0 "$dest/use_libzvh" | grep -q "not found" \
        || { echo "install_tree: a program linked against libzvh.a does not run"; exit 1; }
fi
#  libzvh.so exports the functions its headers declare, and nothing else
so=$(ls "$root"/lib/libzvh.so "$root"/lib/*/libzvh.so 2>/dev/null | head -n 1 || true)
if [ -n "$so" ]; then
    exported=$(nm -D --defined-only "$so" | awk '$2 ~ /^[TDBRVW]$/ { print $3 }' \
               | { grep -v '^_' || true; } | sort)
    declared=$(grep -ho '^    zvh_[a-z_0-9]* (' "$root"/include/zvh/*.h \
               | sed 's/ (//; s/^ *//' | sort -u)
    if [ "$exported" != "$declared" ]; then
        echo "install_tree: libzvh.so exports other functions than include/zvh/*.h declares"
        echo "(< declared only, > exported only; client/libzvh.map is the list):"
        diff <(echo "$declared") <(echo "$exported") || true
        exit 1
    fi
fi
echo "install_tree: every file in place under $root"
