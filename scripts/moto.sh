# Sourced by scripts/test and scripts/perf: installs moto's S3/SQS/SES-compatible server
# into .venv/ if needed, starts it on a free loopback port, exports
# OPENMIC_TEST_AWS_ENDPOINT, and stops it when the calling script exits.
start_moto() {
  local root=$1 venv=$1/.venv port log
  if [ ! -x "$venv/bin/moto_server" ]; then
    printf '\n==> installing moto[server] into .venv\n'
    [ -x "$venv/bin/pip" ] || python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check 'moto[server]>=5.1,<6'
  fi
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()')
  mkdir -p "$root/target"
  log=$root/target/moto.log
  printf '\n==> starting moto_server on 127.0.0.1:%s\n' "$port"
  "$venv/bin/moto_server" -H 127.0.0.1 -p "$port" >"$log" 2>&1 &
  MOTO_PID=$!
  trap 'kill "$MOTO_PID" 2>/dev/null || true; wait "$MOTO_PID" 2>/dev/null || true' EXIT
  for _ in $(seq 1 100); do
    if curl -fsS "http://127.0.0.1:$port/moto-api/" >/dev/null 2>&1; then break; fi
    if ! kill -0 "$MOTO_PID" 2>/dev/null; then cat "$log"; echo "moto_server did not start"; exit 1; fi
    sleep 0.1
  done
  export OPENMIC_TEST_AWS_ENDPOINT="http://127.0.0.1:$port"
}
