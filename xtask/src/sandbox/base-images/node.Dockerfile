# cruddur-base/node:20-trixie — stand-in for node:20-bookworm-slim (Vite 6/7 need
# Node >= 20.19; bookworm has 18, trixie has 20.19). The rootfs has nodejs +
# ca-certificates + the host CA bundle. Debian's npm (9.2) drags in ~365 packages
# (python3, eslint, webpack, libnode-dev, ...), so it is only used to install npm 10
# from the npm registry into /usr/local and then purged again, all in one layer.
ARG ROOTFS=cruddur-base/rootfs:node-trixie
FROM ${ROOTFS}
RUN set -eux; \
    export DEBIAN_FRONTEND=noninteractive; \
    apt-get update; \
    apt-get install -y --no-install-recommends npm; \
    npm install --global --prefix=/usr/local --no-audit --no-fund npm@10; \
    apt-get purge -y --auto-remove npm; \
    apt-get clean; \
    rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin /root/.npm /tmp/* /var/log/apt /var/log/dpkg.log; \
    hash -r; node --version; npm --version; npx --version
CMD ["node"]
