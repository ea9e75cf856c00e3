#!/bin/bash
# REST budgets of vscd beside nginx serving the same JSON body as a static file:
# binary size, start-up time, idle RSS, and wrk throughput on GET /redfish/v1/Systems
# with a session token, over HTTPS and over loopback HTTP. One run, same machine.
#   bench/rest.sh [DURATION_SECONDS]        (make bench runs it; needs root for deps)
# Prints a Markdown table; docs/BENCHMARKS.md records a run.
set -euo pipefail
cd "$(dirname "$0")/.."
DUR=${1:-10}
CONNS=${CONNS:-32}
VSCD=build/vscd
WORK=$(mktemp -d /tmp/vsc-bench.XXXXXX)
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT
unset REQUESTS_CA_BUNDLE CURL_CA_BUNDLE

free_port() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
now_ms() { date +%s%3N; }
rss_kb() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }

wait_up() { # url -> ms until the first answer
    local start=$1 url=$2
    for _ in $(seq 1 500); do
        if curl -sk -o /dev/null "$url"; then echo $(( $(now_ms) - start )); return; fi
        sleep 0.01
    done
    echo "vscd did not start" >&2; exit 1
}

start_vscd() { # name port extra-args... ; sets VPID, STARTUP_MS
    local name=$1 port=$2; shift 2
    local scheme=https; [[ " $* " == *" --insecure-http "* ]] && scheme=http
    local t0; t0=$(now_ms)
    VSC_ADMIN_PASSWORD=bench-password-1 $VSCD --state-dir "$WORK/$name" \
        --listen "127.0.0.1:$port" --log-level error "$@" >"$WORK/$name.log" 2>&1 &
    VPID=$!; PIDS+=("$VPID")
    STARTUP_MS=$(wait_up "$t0" "$scheme://127.0.0.1:$port/redfish/v1/")
}

login() { # base -> token
    curl -sk -D - -o /dev/null "$1/redfish/v1/SessionService/Sessions" \
        -H 'Content-Type: application/json' \
        -d '{"UserName":"admin","Password":"bench-password-1"}' |
        awk 'tolower($1)=="x-auth-token:" {print $2}' | tr -d '\r'
}

run_wrk() { # url [header] -> requests/s
    local out
    if [ -n "${2:-}" ]; then out=$(wrk -t1 -c"$CONNS" -d"${DUR}s" -H "$2" "$1")
    else out=$(wrk -t1 -c"$CONNS" -d"${DUR}s" "$1"); fi
    echo "$out" | awk '/Requests\/sec/ {print int($2)}'
}

make -s build >/dev/null
SIZE=$(stat -c %s $VSCD)
TEXT=$(size $VSCD | awk 'NR==2 {print $1+$2}')

# Start-up: the first start creates the database, the admin hash and a certificate.
PT=$(free_port)
start_vscd tls "$PT"; FIRST_MS=$STARTUP_MS; TLS_PID=$VPID
kill "$TLS_PID"; wait "$TLS_PID" 2>/dev/null || true
start_vscd tls "$PT"; WARM_MS=$STARTUP_MS; TLS_PID=$VPID
sleep 1
IDLE_RSS=$(rss_kb "$TLS_PID")

PH=$(free_port)
start_vscd http "$PH" --insecure-http; HTTP_PID=$VPID

TOKEN_TLS=$(login "https://127.0.0.1:$PT")
TOKEN_HTTP=$(login "http://127.0.0.1:$PH")
curl -sk -H "X-Auth-Token: $TOKEN_TLS" "https://127.0.0.1:$PT/redfish/v1/Systems" >"$WORK/Systems.json"

# nginx serving the same body as a static file, with vscd's certificate.
mkdir -p "$WORK/www/redfish/v1"
cp "$WORK/Systems.json" "$WORK/www/redfish/v1/Systems"
NT=$(free_port); NH=$(free_port)
nginx_conf() { # workers
    cat <<NGINX
worker_processes $1;
pid $WORK/nginx.pid;
error_log $WORK/nginx.err;
events { worker_connections 1024; }
http {
    access_log off;
    default_type application/json;
    server {
        listen 127.0.0.1:$NT ssl; listen 127.0.0.1:$NH;
        ssl_certificate $WORK/tls/tls/cert.pem; ssl_certificate_key $WORK/tls/tls/key.pem;
        ssl_protocols TLSv1.2 TLSv1.3;
        root $WORK/www;
    }
}
NGINX
}

declare -A RPS
bench_nginx() { # workers label
    nginx_conf "$1" >"$WORK/nginx.conf"
    nginx -c "$WORK/nginx.conf" -p "$WORK"
    sleep 0.3
    RPS["nginx$2 https"]=$(run_wrk "https://127.0.0.1:$NT/redfish/v1/Systems")
    RPS["nginx$2 http"]=$(run_wrk "http://127.0.0.1:$NH/redfish/v1/Systems")
    nginx -c "$WORK/nginx.conf" -p "$WORK" -s stop; sleep 0.3
}

RPS["vscd https"]=$(run_wrk "https://127.0.0.1:$PT/redfish/v1/Systems" "X-Auth-Token: $TOKEN_TLS")
RPS["vscd http"]=$(run_wrk "http://127.0.0.1:$PH/redfish/v1/Systems" "X-Auth-Token: $TOKEN_HTTP")
LOAD_RSS=$(rss_kb "$TLS_PID")
bench_nginx 1 " (1 worker)"
bench_nginx auto " (auto: $(nproc) workers)"

echo "## REST budgets ($(date -u +%Y-%m-%d), $(nproc) cores, wrk -t1 -c$CONNS -d${DUR}s)"
echo
echo "| measure | value |"
echo "| --- | --- |"
echo "| binary size (build/vscd, stripped of nothing) | $((SIZE / 1024)) KiB (text+data $((TEXT / 1024)) KiB) |"
echo "| start-up to first answer, first start (DB, admin hash, certificate) | ${FIRST_MS} ms |"
echo "| start-up to first answer, later starts | ${WARM_MS} ms |"
echo "| idle RSS | $((IDLE_RSS / 1024)) MiB ($IDLE_RSS KiB) |"
echo "| RSS after the HTTPS load | $((LOAD_RSS / 1024)) MiB ($LOAD_RSS KiB) |"
echo
echo "| GET /redfish/v1/Systems | HTTPS req/s | HTTP req/s | vscd/this HTTPS | vscd/this HTTP |"
echo "| --- | --- | --- | --- | --- |"
for who in "vscd" "nginx (1 worker)" "nginx (auto: $(nproc) workers)"; do
    t=${RPS["$who https"]}; h=${RPS["$who http"]}
    rt=$(awk -v a="${RPS["vscd https"]}" -v b="$t" 'BEGIN {printf "%.2f", a/b}')
    rh=$(awk -v a="${RPS["vscd http"]}" -v b="$h" 'BEGIN {printf "%.2f", a/b}')
    echo "| $who | $t | $h | $rt | $rh |"
done
