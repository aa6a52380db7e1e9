# Stands in for the upstream `haproxy:2.9-alpine`: Debian's haproxy on the base image,
# reading its configuration where the upstream image does.
FROM prism/bookworm-base:12
RUN apt-get update && apt-get install -y --no-install-recommends haproxy \
    && rm -rf /var/lib/apt/lists/* && mkdir -p /usr/local/etc/haproxy
ENTRYPOINT ["haproxy", "-W", "-db", "-f", "/usr/local/etc/haproxy/haproxy.cfg"]
