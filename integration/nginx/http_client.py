#!/usr/bin/python3
"""http_client.py - raw-socket HTTP/1.1 clients for the nginx scenarios
(integration/nginx/*.sh): the exchanges curl and wrk cannot make, each
checking every byte it gets against the file on disk.

Usage: http_client.py COMMAND PORT ARGS...   (each command's doc below)
Prints what it checked; exit 0 when every check passed, 1 otherwise (the
last line says why).  Uses only the standard library (Debian's python3).
Every socket has a timeout: a hang is an error, not a wait without end.
Takes seconds; `many` and `idle` grow with their connection count.
"""
import os
import random
import selectors
import socket
import sys
import threading
import time

TIMEOUT = 60.0  # seconds for any single socket operation


class Fail(Exception):
    pass


def connect(port):
    s = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def request(path, method="GET", headers=None, close=False):
    h = {"Host": "localhost"}
    if close:
        h["Connection"] = "close"
    h.update(headers or {})
    lines = [f"{method} {path} HTTP/1.1"] + [f"{k}: {v}" for k, v in h.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


class Reader:
    """Buffered reads of HTTP/1.1 responses from one socket."""

    def __init__(self, sock):
        self.s, self.buf = sock, bytearray()

    def fill(self):
        chunk = self.s.recv(1 << 20)
        if not chunk:
            raise Fail("connection closed by the server before the response ended")
        self.buf += chunk

    def response(self, head=False):
        """(status, headers dict lower-cased, body bytes)."""
        while b"\r\n\r\n" not in self.buf:
            self.fill()
        end = self.buf.index(b"\r\n\r\n")
        lines = bytes(self.buf[:end]).decode("latin-1").split("\r\n")
        del self.buf[: end + 4]
        parts = lines[0].split(" ", 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/1."):
            raise Fail(f"bad status line {lines[0]!r}")
        status = int(parts[1])
        hdrs = {}
        for ln in lines[1:]:
            k, _, v = ln.partition(":")
            hdrs[k.strip().lower()] = v.strip()
        if head or status in (204, 304):
            return status, hdrs, b""
        if "content-length" not in hdrs:
            raise Fail(f"status {status} without Content-Length: {hdrs}")
        n = int(hdrs["content-length"])
        while len(self.buf) < n:
            self.fill()
        body = bytes(self.buf[:n])
        del self.buf[:n]
        return status, hdrs, body

    def at_eof(self):
        """True when the server closed with nothing more to read."""
        if self.buf:
            return False
        return self.s.recv(1) == b""


def load(root, path):
    with open(os.path.join(root, path.lstrip("/")), "rb") as f:
        return f.read()


def expect(cond, what):
    if not cond:
        raise Fail(what)


def check_200(status, body, want, what):
    expect(status == 200, f"{what}: status {status}")
    expect(body == want, f"{what}: {len(body)} bytes differ from the file ({len(want)} bytes)")


# ------------------------------------------------------------------ commands

def cmd_keepalive(port, root, n, *paths):
    """keepalive PORT ROOT N PATH...: N requests in turn on one connection
    (cycling over PATHs), each body equal to its file; the server keeps
    the connection open (no Connection: close, and the same socket)."""
    n = int(n)
    files = {p: load(root, p) for p in paths}
    s = connect(port)
    r = Reader(s)
    for i in range(n):
        p = paths[i % len(paths)]
        s.sendall(request(p))
        st, h, body = r.response()
        check_200(st, body, files[p], f"keepalive request {i + 1} {p}")
        expect(h.get("connection", "keep-alive").lower() != "close", f"request {i + 1}: Connection: close")
    s.close()
    print(f"keepalive: {n} requests on one connection, every body equal to its file")


def cmd_pipeline(port, root, n, *paths):
    """pipeline PORT ROOT N PATH...: N requests (cycling over PATHs) in ONE
    send, the last with Connection: close; N responses in order, each body
    equal to its file, then the server closes."""
    n = int(n)
    files = {p: load(root, p) for p in paths}
    data = b"".join(request(paths[i % len(paths)], close=(i == n - 1)) for i in range(n))
    s = connect(port)
    s.sendall(data)
    r = Reader(s)
    for i in range(n):
        p = paths[i % len(paths)]
        st, h, body = r.response()
        check_200(st, body, files[p], f"pipelined response {i + 1} {p}")
    expect(r.at_eof(), "data after the last pipelined response, or no close")
    s.close()
    print(f"pipeline: {n} requests in one write ({len(data)} bytes), {n} responses in order")


def cmd_head(port, root, path):
    """head PORT ROOT PATH: HEAD answers 200 with the file's Content-Length
    and no body (a GET right after on the same connection gets the file,
    so no stray body byte came first)."""
    want = load(root, path)
    s = connect(port)
    r = Reader(s)
    s.sendall(request(path, "HEAD"))
    st, h, _ = r.response(head=True)
    expect(st == 200, f"HEAD status {st}")
    expect(int(h.get("content-length", -1)) == len(want), f"HEAD Content-Length {h.get('content-length')} != {len(want)}")
    s.sendall(request(path, close=True))
    st, h, body = r.response()
    check_200(st, body, want, "GET after HEAD")
    expect(r.at_eof(), "data after the response")
    print(f"head: {path}: 200, Content-Length {len(want)}, no body; GET after it intact")


def parse_multipart(body, ctype):
    b = ctype.split("boundary=", 1)[1].strip('"')
    delim = b"--" + b.encode()
    parts = []
    chunks = body.split(delim)
    expect(chunks[-1].startswith(b"--"), "multipart: no closing boundary")
    for c in chunks[1:-1]:
        expect(c.startswith(b"\r\n"), "multipart: bad part start")
        hend = c.index(b"\r\n\r\n")
        hdrs = {}
        for ln in c[2:hend].decode("latin-1").split("\r\n"):
            k, _, v = ln.partition(":")
            hdrs[k.strip().lower()] = v.strip()
        data = c[hend + 4:]
        expect(data.endswith(b"\r\n"), "multipart: part does not end in CRLF")
        parts.append((hdrs, data[:-2]))
    return parts


def cmd_range(port, root, path):
    """range PORT ROOT PATH: single ranges (start-end, start-, -suffix, one
    across the middle of the file) and a multi-range request
    (multipart/byteranges) on one connection: status 206, Content-Range,
    and every byte against the file; an unsatisfiable range gets 416."""
    want = load(root, path)
    size = len(want)
    s = connect(port)
    r = Reader(s)
    mid, span = size // 2, min(65536, size // 4)  # scaled for a 1 KiB file
    singles = [(0, 99), (size // 3, None), (None, size // 5), (mid - span // 16, mid + span - 1), (size - 1, size - 1)]
    for a, b in singles:
        spec = f"{'' if a is None else a}-{'' if b is None else b}"
        s.sendall(request(path, headers={"Range": f"bytes={spec}"}))
        st, h, body = r.response()
        lo = size - b if a is None else a
        hi = size - 1 if (b is None or a is None) else b
        expect(st == 206, f"range {spec}: status {st}")
        expect(h.get("content-range") == f"bytes {lo}-{hi}/{size}", f"range {spec}: Content-Range {h.get('content-range')}")
        expect(body == want[lo:hi + 1], f"range {spec}: bytes differ")
    multi = [(0, 9), (100, 199), (mid, mid + span + 31), (size - 10, size - 1)]
    spec = ",".join(f"{a}-{b}" for a, b in multi)
    s.sendall(request(path, headers={"Range": f"bytes={spec}"}))
    st, h, body = r.response()
    expect(st == 206, f"multi-range: status {st}")
    expect(h.get("content-type", "").startswith("multipart/byteranges"), f"multi-range: Content-Type {h.get('content-type')}")
    parts = parse_multipart(body, h["content-type"])
    expect(len(parts) == len(multi), f"multi-range: {len(parts)} parts, expected {len(multi)}")
    for (a, b), (ph, data) in zip(multi, parts):
        expect(ph.get("content-range") == f"bytes {a}-{b}/{size}", f"multi-range part {a}-{b}: {ph.get('content-range')}")
        expect(data == want[a:b + 1], f"multi-range part {a}-{b}: bytes differ")
    s.sendall(request(path, headers={"Range": f"bytes={size + 10}-"}, close=True))
    st, h, _ = r.response()
    expect(st == 416, f"unsatisfiable range: status {st}")
    s.close()
    print(f"range: {len(singles)} single ranges, 1 multi-range of {len(multi)} parts, 416: every byte checked ({size}-byte file)")


def run_threads(n, fn):
    errors = []

    def wrap(i):
        try:
            fn(i)
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(f"client {i}: {type(e).__name__}: {e}")

    ts = [threading.Thread(target=wrap, args=(i,)) for i in range(n)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    if errors:
        raise Fail(f"{len(errors)} of {n} clients failed; first: {errors[0]}")


def cmd_trickle(port, root, n, delay, path):
    """trickle PORT ROOT N DELAY PATH: N clients at once, each sends its
    request one byte per send, DELAY seconds apart, then reads the whole
    response (equal to the file)."""
    n, delay = int(n), float(delay)
    want = load(root, path)
    req = request(path, headers={"User-Agent": "trickle"}, close=True)

    def one(i):
        s = connect(port)
        for byte in req:
            s.sendall(bytes([byte]))
            time.sleep(delay)
        r = Reader(s)
        st, h, body = r.response()
        check_200(st, body, want, "trickled request")
        s.close()

    run_threads(n, one)
    print(f"trickle: {n} clients, {len(req)} one-byte sends each, every response intact")


def cmd_halfclose(port, root, n, mode, *paths):
    """halfclose PORT ROOT N MODE PATH...: N clients at once (cycling over
    PATHs), each sends its request then shutdown(SHUT_WR) (nginx sees
    EPOLLRDHUP).  MODE all: every client must get its whole response, then
    EOF.  MODE count: prints how many got it whole and exits 0 (nginx
    takes a half-close seen while it is still writing a response for an
    abort, natively too: ngx_http_test_reading, status 499)."""
    n = int(n)
    files = {p: load(root, p) for p in paths}
    whole = []

    def one(i):
        p = paths[i % len(paths)]
        s = connect(port)
        s.sendall(request(p))
        s.shutdown(socket.SHUT_WR)
        r = Reader(s)
        st, h, body = r.response()
        check_200(st, body, files[p], f"half-closed client {p}")
        expect(r.at_eof(), "no EOF after the response")
        s.close()
        whole.append(i)

    if mode == "all":
        run_threads(n, one)
        print(f"halfclose: {n} clients shut down their write side after the request; every response whole, then EOF")
        return
    expect(mode == "count", f"unknown mode {mode}")
    try:
        run_threads(n, one)
    except Fail:
        pass
    print(f"halfclose count: {len(whole)} of {n} half-closed clients got their whole response ({' '.join(paths)})")


def cmd_abort(port, n, path, keep):
    """abort PORT N PATH KEEP: N clients at once request PATH (large), read
    about KEEP bytes of it and close mid-response: half of them with a
    plain close (FIN), half with SO_LINGER 0 (RST)."""
    n, keep = int(n), int(keep)

    def one(i):
        s = connect(port)
        s.sendall(request(path))
        got = 0
        while got < keep:
            c = s.recv(65536)
            expect(c, "closed before KEEP bytes")
            got += len(c)
        if i % 2:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        s.close()

    run_threads(n, one)
    print(f"abort: {n} clients closed after ~{keep} bytes of {path} ({n // 2} with RST)")


def open_many(port, n):
    """n connected sockets (non-blocking connects, all at once)."""
    sel = selectors.DefaultSelector()
    socks = []
    for _ in range(n):
        s = socket.socket()
        s.setblocking(False)
        err = s.connect_ex(("127.0.0.1", port))
        expect(err in (0, 115), f"connect: errno {err}")
        sel.register(s, selectors.EVENT_WRITE)
        socks.append(s)
    pending, deadline = n, time.monotonic() + TIMEOUT * 2
    while pending:
        expect(time.monotonic() < deadline, f"{pending} of {n} connects still pending")
        for key, _ in sel.select(1.0):
            err = key.fileobj.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            expect(err == 0, f"connect failed: errno {err}")
            sel.unregister(key.fileobj)
            pending -= 1
    sel.close()
    return socks


def exchange_all(socks, req, want, head=False):
    """Send req on every socket at once, read one response from each (all
    multiplexed), check each body; the sockets stay open."""
    sel = selectors.DefaultSelector()
    bufs = {}
    for s in socks:
        s.sendall(req)  # small: fits the socket buffer of a fresh connection
        bufs[s] = bytearray()
        sel.register(s, selectors.EVENT_READ)
    done, deadline = 0, time.monotonic() + TIMEOUT * 4
    while done < len(socks):
        expect(time.monotonic() < deadline, f"{len(socks) - done} of {len(socks)} responses missing")
        for key, _ in sel.select(1.0):
            s = key.fileobj
            c = s.recv(1 << 20)
            expect(c, "a connection closed before its response ended")
            b = bufs[s]
            b += c
            if b"\r\n\r\n" in b:
                hend = b.index(b"\r\n\r\n") + 4
                head_txt = bytes(b[:hend]).decode("latin-1").lower()
                expect(head_txt.startswith("http/1.1 200"), f"status line {head_txt.splitlines()[0]!r}")
                clen = int(head_txt.split("content-length:")[1].split("\r\n")[0])
                if len(b) >= hend + clen:
                    expect(bytes(b[hend:hend + clen]) == want, "a body differs from the file")
                    expect(len(b) == hend + clen, "bytes after the response")
                    sel.unregister(s)
                    done += 1
    sel.close()


def cmd_many(port, root, n, path):
    """many PORT ROOT N PATH: N connections open at once (all connected
    before any request), one request on each, every response checked while
    all N are open; then a second round on the same N connections
    (keepalive), then all closed."""
    n = int(n)
    want = load(root, path)
    socks = open_many(port, n)
    for rnd in (1, 2):
        exchange_all(socks, request(path), want)
    for s in socks:
        s.close()
    print(f"many: {n} concurrent connections, 2 requests each, every body intact")


def cmd_idle(port, root, n, path, go_file):
    """idle PORT ROOT N PATH GO_FILE: N connections, one request on each
    (so nginx holds N idle keepalive connections), prints 'ready', then
    waits without touching them until GO_FILE exists (the caller measures
    meanwhile); then one more request on every connection (each still
    open and served), and closes them."""
    n = int(n)
    want = load(root, path)
    socks = open_many(port, n)
    exchange_all(socks, request(path), want)
    print("ready", flush=True)
    deadline = time.monotonic() + 600
    while not os.path.exists(go_file):
        expect(time.monotonic() < deadline, "GO_FILE never appeared")
        time.sleep(0.2)
    exchange_all(socks, request(path), want)
    for s in socks:
        s.close()
    print(f"idle: {n} keepalive connections held idle, then each served once more")


def cmd_loop(port, root, seconds, path):
    """loop PORT ROOT SECONDS PATH: GET PATH over and over on new and
    reused connections for SECONDS, every body checked; counts failures
    (a connection refused or reset, a bad body).  Prints
    'loop: R requests, F failed' and exits 0 (the caller compares F)."""
    want = load(root, path)
    end = time.monotonic() + float(seconds)
    req_n = fails = 0
    while time.monotonic() < end:
        try:
            s = connect(port)
            r = Reader(s)
            for _ in range(random.randint(1, 20)):
                s.sendall(request(path))
                st, h, body = r.response()
                req_n += 1
                check_200(st, body, want, "loop")
            s.close()
        except (OSError, Fail) as e:
            fails += 1
            print(f"loop: failure: {type(e).__name__}: {e}")
    print(f"loop: {req_n} requests, {fails} failed")


COMMANDS = {name[4:]: fn for name, fn in globals().items() if name.startswith("cmd_")}


def main(argv):
    if len(argv) < 3 or argv[1] not in COMMANDS:
        print(__doc__)
        for name, fn in COMMANDS.items():
            print(fn.__doc__)
        return 2
    try:
        COMMANDS[argv[1]](int(argv[2]), *argv[3:])
    except (Fail, OSError, ValueError) as e:
        print(f"{argv[1]}: FAILED: {type(e).__name__}: {e}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
