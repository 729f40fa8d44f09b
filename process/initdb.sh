# Runs /docker-entrypoint-initdb.d as the postgres image's
# docker-entrypoint.sh does, on a data directory initdb just made: the
# scripts' paths are the arguments, in order. Sourced .sh files see the
# image's helper, docker_process_sql.
set -Eeo pipefail

docker_process_sql() {
	local query_runner=(psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --no-password --no-psqlrc)
	if [ -n "$POSTGRES_DB" ]; then
		query_runner+=(--dbname "$POSTGRES_DB")
	fi
	PGHOST= PGHOSTADDR= "${query_runner[@]}" "$@"
}

# A server on the socket only, as the image's temporary one.
echo "tandem: initdb.d: the temporary server's start"
pg_ctl -D "$PGDATA" -o "-c listen_addresses='' -p 5432" -w start >/dev/null

for f in "$@"; do
	echo "tandem: initdb.d: $f"
	case "$f" in
	*.sh)
		if [ -x "$f" ]; then
			echo "$0: running $f"
			"$f"
		else
			echo "$0: sourcing $f"
			. "$f"
		fi
		;;
	*.sql)     echo "$0: running $f"; docker_process_sql -f "$f"; echo ;;
	*.sql.gz)  echo "$0: running $f"; gunzip -c "$f" | docker_process_sql; echo ;;
	*.sql.xz)  echo "$0: running $f"; xzcat "$f" | docker_process_sql; echo ;;
	*.sql.zst) echo "$0: running $f"; zstd -dc "$f" | docker_process_sql; echo ;;
	*)         echo "$0: ignoring $f" ;;
	esac
done
echo "tandem: initdb.d: the temporary server's stop"

pg_ctl -D "$PGDATA" -m fast -w stop >/dev/null
