# cruddur-base/node:20-trixie — stand-in for node:20-bookworm-slim (Vite 6/7 need
# Node >= 20.19; bookworm has 18, trixie has 20.19). The rootfs has nodejs +
# ca-certificates + the host CA bundle. npm 10 comes as its registry tarball
# (`npm pack` on the host; npm bundles its own dependencies), unpacked where the
# official image has it: Debian's npm 9.2 would drag in ~365 packages, and
# installing then purging them took 35-95 s of every cold sandbox.
ARG ROOTFS=cruddur-base/rootfs:node-trixie
FROM ${ROOTFS}
COPY npm.tgz /tmp/npm.tgz
RUN set -eux; \
    mkdir -p /usr/local/lib/node_modules/npm; \
    tar -xzf /tmp/npm.tgz -C /usr/local/lib/node_modules/npm --strip-components=1 --no-same-owner; \
    rm /tmp/npm.tgz; \
    chmod +x /usr/local/lib/node_modules/npm/bin/npm-cli.js /usr/local/lib/node_modules/npm/bin/npx-cli.js; \
    ln -s ../lib/node_modules/npm/bin/npm-cli.js /usr/local/bin/npm; \
    ln -s ../lib/node_modules/npm/bin/npx-cli.js /usr/local/bin/npx; \
    node --version; npm --version; npx --version
CMD ["node"]
