# `prism:latest` from a binary built on the host (same glibc as bookworm), with the
# settings of compose/Dockerfile, which builds it from source where images can be pulled.
FROM prism/bookworm-base:12
COPY prism /usr/local/bin/prism
ENV PRISM_DATA_DIR=/var/lib/prism PRISM_HTTP_ADDR=0.0.0.0:8080
VOLUME /var/lib/prism
EXPOSE 8080
HEALTHCHECK CMD curl -fsS http://127.0.0.1:8080/healthz || exit 1
ENTRYPOINT ["/usr/local/bin/prism"]
CMD ["standalone"]
