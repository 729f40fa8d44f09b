# redis:7 for tests: Debian's redis-server under the official image's name.
FROM local/debian-stack
VOLUME /data
WORKDIR /data
EXPOSE 6379
CMD ["redis-server", "--protected-mode", "no", "--save", "", "--appendonly", "no"]
