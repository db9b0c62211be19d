# cruddur-base/postgres:15-bookworm — stand-in for postgres:15-bookworm, built on
# Debian's postgresql-15. postgres-entrypoint.sh emulates the official contract
# (POSTGRES_USER/PASSWORD/DB, initdb on empty PGDATA, /docker-entrypoint-initdb.d,
# listen on all interfaces with scram-sha-256 for remote clients, run as postgres).
ARG ROOTFS=cruddur-base/rootfs:postgres-bookworm
FROM ${ROOTFS}
ENV PATH=/usr/lib/postgresql/15/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    PGDATA=/var/lib/postgresql/data
COPY postgres-entrypoint.sh /usr/local/bin/docker-entrypoint.sh
VOLUME /var/lib/postgresql/data
EXPOSE 5432
STOPSIGNAL SIGINT
ENTRYPOINT ["/bin/sh", "/usr/local/bin/docker-entrypoint.sh"]
CMD ["postgres"]
