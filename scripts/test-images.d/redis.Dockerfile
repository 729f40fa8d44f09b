# redis:7 for tests: Debian's redis-server under the official image's name,
# with a HEALTHCHECK (redis-cli comes with it, in redis-tools) so the tests
# see an image's own healthcheck used where Compose gives none.
FROM local/debian-stack
VOLUME /data
WORKDIR /data
EXPOSE 6379
HEALTHCHECK --interval=1s --timeout=3s CMD redis-cli ping
CMD ["redis-server", "--protected-mode", "no", "--save", "", "--appendonly", "no"]
