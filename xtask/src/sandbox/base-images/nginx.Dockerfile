# cruddur-base/nginx:bookworm — stand-in for nginx:1.27-bookworm, built on Debian's
# nginx (1.22). Like the official image: conf.d/*.conf is included (Debian's
# nginx.conf already does), the Debian default site is removed and replaced by
# conf.d/default.conf (port 80, root /usr/share/nginx/html; delete or overwrite it),
# logs go to stdout/stderr, nginx runs in the foreground, SIGQUIT stops it gracefully.
# Not emulated: the official /docker-entrypoint.sh (templates/envsubst), user "nginx"
# (workers run as www-data), the IPv6 listen line.
ARG ROOTFS=cruddur-base/rootfs:nginx-bookworm
FROM ${ROOTFS}
RUN set -eux; \
    rm -f /etc/nginx/sites-enabled/default; \
    printf '%s\n' \
      'server {' \
      '    listen       80;' \
      '    server_name  localhost;' \
      '    location / {' \
      '        root   /usr/share/nginx/html;' \
      '        index  index.html index.htm;' \
      '    }' \
      '}' > /etc/nginx/conf.d/default.conf; \
    ln -sf /dev/stdout /var/log/nginx/access.log; \
    ln -sf /dev/stderr /var/log/nginx/error.log; \
    nginx -t
EXPOSE 80
STOPSIGNAL SIGQUIT
CMD ["nginx", "-g", "daemon off;"]
