# shellcheck shell=bash
# integration/lib/process.sh - the process and port helpers the server
# scripts share (integration/nginx/run-main.sh,
# integration/shim/nginx_lifecycle.sh, integration/bench/run-servers.sh).
# Sourced, not run.

# wait_until SECONDS CMD...: run CMD every 0.1 s until it succeeds; 1 on
# timeout.
wait_until() {
    local deadline=$((SECONDS + $1))
    shift
    until "$@"; do
        ((SECONDS < deadline)) || return 1
        sleep 0.1
    done
}

# alive PID: the process exists and is not a zombie.
alive() {
    local state
    state=$(awk '{ print $3 }' "/proc/$1/stat" 2>/dev/null) || return 1
    [[ -n $state && $state != Z && $state != X ]]
}

# port_open PORT: something accepts connections on 127.0.0.1:PORT.
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# pick_port: a port that was free a moment ago on 127.0.0.1.
pick_port() {
    python3 -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()'
}

# children PID: the pids of PID's children, sorted, space separated.
children() { pgrep -P "$1" | sort -n | tr '\n' ' ' | sed 's/ $//' || true; }
