# The official image's entrypoint, as far as the Compose stack uses it.
set -eu
if [ "${1:-}" = redis-server ]; then
    chown redis:redis /data
    exec setpriv --reuid redis --regid redis --init-groups "$@"
fi
exec "$@"
