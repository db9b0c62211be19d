#!/bin/sh
# Reference implementation of the offline base-image pipeline (the xtask sandbox code
# runs the same three steps per image; see README.md). Run as root on the host:
#   sh xtask/src/sandbox/base-images/build.sh [python|node|nginx|postgres ...]
# Env: REPO (default: git toplevel), CACHE (default: $REPO/target/sandbox/rootfs),
#      PREFIX (tag namespace, default cruddur-base), FORCE=1 rebuilds tags that
#      already exist, MIRROR (default http://deb.debian.org/debian), CA (host bundle).
set -eu
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=${REPO:-$(git -C "$HERE" rev-parse --show-toplevel)}
CACHE=${CACHE:-$REPO/target/sandbox/rootfs}
PREFIX=${PREFIX:-cruddur-base}
MIRROR=${MIRROR:-http://deb.debian.org/debian}
CA=${CA:-/etc/ssl/certs/ca-certificates.crt}
IN_CA=/etc/ssl/certs/ca-certificates.crt

stamp() { date +%s.%N; }
took() { awk -v a="$1" -v b="$(stamp)" 'BEGIN { printf "%.1f", b - a }'; }

# build NAME SUITE INCLUDE TAG
build() {
    name=$1 suite=$2 include=$3 tag=$4
    rootfs=$CACHE/$name-$suite
    if [ -z "${FORCE:-}" ] && docker image inspect "$tag" >/dev/null 2>&1; then
        echo "== $tag: present, skipped"
        return
    fi

    # 1. debootstrap into the cache (atomic: .tmp then rename); kept across runs
    t=$(stamp)
    if [ ! -d "$rootfs" ]; then
        mkdir -p "$CACHE/debs-cache"
        rm -rf "$rootfs.tmp"
        debootstrap --variant=minbase --cache-dir="$CACHE/debs-cache" \
            --include="$include" "$suite" "$rootfs.tmp" "$MIRROR"
        mv "$rootfs.tmp" "$rootfs"
    fi
    cp "$CA" "$rootfs$IN_CA"
    t1=$(took "$t")

    # 2. import, stripping apt lists/debs, docs, man pages, locales, device nodes
    t=$(stamp)
    tar --numeric-owner -C "$rootfs" -c --anchored \
        --exclude='./dev/*' --exclude='./proc/*' --exclude='./sys/*' --exclude='./tmp/*' \
        --exclude='./var/lib/apt/lists/*' --exclude='./var/cache/apt/*.bin' \
        --exclude='./var/cache/apt/archives/*.deb' --exclude='./var/log/*.log' \
        --exclude='./usr/share/doc/*' --exclude='./usr/share/man/*' \
        --exclude='./usr/share/info/*' --exclude='./usr/share/locale/*' \
        --exclude='./var/lib/postgresql/*' --exclude='./etc/postgresql/*' \
        . |
    docker import \
        --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
        --change 'ENV LANG=C.UTF-8' \
        --change "ENV SSL_CERT_FILE=$IN_CA" \
        --change "ENV PIP_CERT=$IN_CA" \
        --change "ENV REQUESTS_CA_BUNDLE=$IN_CA" \
        --change "ENV NODE_EXTRA_CA_CERTS=$IN_CA" \
        --change 'CMD ["bash"]' \
        - "$PREFIX/rootfs:$name-$suite" >/dev/null
    t2=$(took "$t")

    # 3. finish with the small Dockerfile (python: metadata only; others: one layer)
    t=$(stamp)
    docker build --network host --build-arg "ROOTFS=$PREFIX/rootfs:$name-$suite" \
        -f "$HERE/$name.Dockerfile" -t "$tag" "$HERE"
    t3=$(took "$t")
    echo "== $tag: debootstrap ${t1}s, import ${t2}s, build ${t3}s"
}

[ "$#" -gt 0 ] || set -- python nginx postgres node
for image in "$@"; do
    case "$image" in
        python)   build python   bookworm python3,python3-venv,python-is-python3,ca-certificates "$PREFIX/python:3.11-bookworm" ;;
        node)     build node     trixie   nodejs,ca-certificates           "$PREFIX/node:20-trixie" ;;
        nginx)    build nginx    bookworm nginx,ca-certificates            "$PREFIX/nginx:bookworm" ;;
        postgres) build postgres bookworm postgresql-15,ca-certificates    "$PREFIX/postgres:15-bookworm" ;;
        *) echo "unknown image: $image" >&2; exit 2 ;;
    esac
done
