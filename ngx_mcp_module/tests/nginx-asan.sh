#!/usr/bin/env bash
# nginx itself built with AddressSanitizer, with our module, for
# `make integration-nginx-asan`: Debian ships no sanitized nginx, and the
# module's connection handling (queues, closes, timers, the link) lives on
# memory nginx owns, which only an nginx built the same way can check.
#
#   ngx_mcp_module/tests/nginx-asan.sh BUILD_DIR MODULE_DIR
#
# Fetches the source of the nginx Debian ships (the same upstream release,
# from Debian's archive through apt-get, hash-checked against the archive's
# signed index; nothing in /etc/apt or /var is changed), unpacks it once into
# BUILD_DIR/nginx-<version> (linked as BUILD_DIR/src), and configures it
# there with the module.  `make -C BUILD_DIR/src -f objs/Makefile` then
# builds both.
#
# NGX_DEBUG_PALLOC makes every pool allocation its own malloc(), so that
# ASan sees an overrun or a use after free of memory from a request's or a
# connection's pool, not only of whole pool blocks.
set -euo pipefail

BUILD=$1
MODULE=$2
mkdir -p "$BUILD/dl" "$BUILD/apt/lists/partial" "$BUILD/apt/cache/archives/partial"
BUILD=$(cd "$BUILD" && pwd)
MODULE=$(cd "$MODULE" && pwd)

version=$(dpkg-query -W -f='${Version}' nginx-dev 2>/dev/null \
          || /usr/sbin/nginx -v 2>&1 | sed 's|.*nginx/||')
upstream=${version%%-*}
tarball=$BUILD/dl/nginx_$upstream.orig.tar.gz

if [ ! -s "$tarball" ]; then
    # a private sources list, state and cache: only the source index is
    # fetched, and the system's apt files are not touched
    cat > "$BUILD/apt/sources.list" <<EOF
deb-src [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian bookworm main
EOF
    apt=(-o Dir::Etc::SourceList="$BUILD/apt/sources.list"
         -o Dir::Etc::SourceParts=/dev/null
         -o Dir::State::Lists="$BUILD/apt/lists"
         -o Dir::Cache="$BUILD/apt/cache"
         -o Debug::NoLocking=1 -q)
    apt-get "${apt[@]}" update > "$BUILD/apt/update.log" 2>&1 || {
        cat "$BUILD/apt/update.log"; exit 1; }
    # the archive's own revision may differ from the installed one; the
    # upstream tarball is the same for all of them
    (cd "$BUILD/dl" && apt-get "${apt[@]}" source --download-only nginx \
        > "$BUILD/apt/source.log" 2>&1) || true
    if [ ! -s "$tarball" ]; then
        echo "nginx-asan: could not fetch nginx $upstream's source:" >&2
        cat "$BUILD/apt/source.log" >&2
        exit 1
    fi
fi

src=$BUILD/nginx-$upstream
rm -rf "$src"
tar -xzf "$tarball" -C "$BUILD"
cd "$src"
./configure \
    --prefix="$BUILD/prefix" \
    --with-compat --with-threads --with-debug \
    --with-http_v2_module --with-http_stub_status_module \
    --with-http_realip_module \
    --with-cc-opt="-O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer \
-DNGX_DEBUG_PALLOC=1 -Wno-unused-parameter" \
    --with-ld-opt="-fsanitize=address,undefined" \
    --add-dynamic-module="$MODULE" > "$BUILD/configure.log" 2>&1 || {
        tail -30 "$BUILD/configure.log"; exit 1; }
ln -sfn "nginx-$upstream" "$BUILD/src"
