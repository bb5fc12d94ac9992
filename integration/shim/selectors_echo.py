"""selectors_echo.py - Python's selectors module (EpollSelector) driving a
TCP echo server, its clients, and a socketpair bulk transfer, in one
single-threaded loop.

Why: `selectors` is the thinnest real-world user of epoll in Python:
register/modify/unregister map 1:1 to epoll_ctl, select() to epoll_wait,
and the loop below toggles EVENT_WRITE the way servers do when a send
would block.  Run natively and under libuepoll.so; the transcript (echoed
payloads per client, sorted; byte counts; digests; the selector's error
cases) must be identical.  Readiness order is not printed (the kernel
defines none).
"""
import errno
import hashlib
import selectors
import socket
import sys

import shimtest

CLIENTS = 8
MESSAGES = 4
BULK = 4 * 1024 * 1024
BOUND = 20.0  # seconds: a select() that waits this long means a lost event


def fail(msg):
    print("FAIL: " + msg)
    sys.exit(1)


def echo_server_and_clients():
    sel = selectors.DefaultSelector()
    print("selector =", type(sel).__name__)
    lsock = socket.socket()
    lsock.bind(("127.0.0.1", 0))
    lsock.listen(16)
    lsock.setblocking(False)
    sel.register(lsock, selectors.EVENT_READ, ("listener", None))
    addr = lsock.getsockname()

    # Clients connect without blocking; each sends MESSAGES lines, one at a
    # time, waiting for the echo of each before the next.
    clients = {}
    for i in range(CLIENTS):
        c = socket.socket()
        c.setblocking(False)
        err = c.connect_ex(addr)
        if err not in (0, errno.EINPROGRESS):
            fail("connect_ex: %s" % errno.errorcode.get(err, err))
        state = {"id": i, "sent": 0, "got": b"", "echoes": [], "out": b""}
        clients[c] = state
        sel.register(c, selectors.EVENT_WRITE, ("client", state))

    conns = {}
    done = 0
    while done < CLIENTS:
        events = sel.select(timeout=BOUND)
        if not events:
            fail("select() timed out: lost event")
        for key, mask in events:
            kind, state = key.data
            sock = key.fileobj
            if kind == "listener":
                while True:
                    try:
                        conn, _ = sock.accept()
                    except BlockingIOError:
                        break
                    conn.setblocking(False)
                    conns[conn] = {"pending": b""}
                    sel.register(conn, selectors.EVENT_READ, ("conn", conns[conn]))
            elif kind == "conn":
                if mask & selectors.EVENT_READ:
                    data = sock.recv(65536)
                    if not data:
                        sel.unregister(sock)
                        sock.close()
                        continue
                    state["pending"] += data
                if state["pending"]:
                    n = sock.send(state["pending"])
                    state["pending"] = state["pending"][n:]
                want = selectors.EVENT_READ | (selectors.EVENT_WRITE if state["pending"] else 0)
                if key.events != want:
                    sel.modify(sock, want, key.data)
            else:  # client
                if mask & selectors.EVENT_WRITE:
                    if state["sent"] == 0 and not state["out"]:
                        err = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                        if err:
                            fail("connect failed: %d" % err)
                    if not state["out"]:
                        state["out"] = b"client %d message %d\n" % (state["id"], state["sent"])
                        state["sent"] += 1
                    n = sock.send(state["out"])
                    state["out"] = state["out"][n:]
                    if not state["out"]:
                        sel.modify(sock, selectors.EVENT_READ, key.data)
                if mask & selectors.EVENT_READ:
                    data = sock.recv(65536)
                    if not data:
                        fail("client %d: server closed" % state["id"])
                    state["got"] += data
                    while b"\n" in state["got"]:
                        line, state["got"] = state["got"].split(b"\n", 1)
                        state["echoes"].append(line.decode())
                    if len(state["echoes"]) == state["sent"]:
                        if state["sent"] == MESSAGES:
                            sel.unregister(sock)
                            sock.close()
                            done += 1
                        else:
                            sel.modify(sock, selectors.EVENT_WRITE, key.data)
    # The server side sees each client's EOF and closes.
    while conns and any(c.fileno() >= 0 for c in conns):
        events = sel.select(timeout=BOUND)
        if not events:
            fail("select() timed out waiting for EOFs")
        for key, mask in events:
            if key.data[0] == "conn":
                data = key.fileobj.recv(65536)
                if not data:
                    sel.unregister(key.fileobj)
                    key.fileobj.close()
            elif key.data[0] == "listener":
                fail("unexpected connection")
    for state in sorted(clients.values(), key=lambda s: s["id"]):
        print("client %d echoes: %s" % (state["id"], " | ".join(state["echoes"])))
    print("registered after the echo test:", len(sel.get_map()))
    sel.unregister(lsock)
    lsock.close()
    sel.close()


def bulk_socketpair():
    """BULK bytes through a socketpair: the writer registers EVENT_WRITE
    only while its kernel buffer is full."""
    sel = selectors.DefaultSelector()
    a, b = socket.socketpair()
    a.setblocking(False)
    b.setblocking(False)
    payload = bytes((i * 7 + 3) % 251 for i in range(65536)) * (BULK // 65536)
    sent = 0
    received = hashlib.sha256()
    nrecv = 0
    blocked_writes = 0
    sel.register(a, selectors.EVENT_WRITE)
    sel.register(b, selectors.EVENT_READ)
    while nrecv < BULK:
        events = sel.select(timeout=BOUND)
        if not events:
            fail("bulk: select() timed out")
        for key, mask in events:
            if key.fileobj is a:
                try:
                    while sent < BULK:
                        sent += a.send(payload[sent:sent + 65536])
                except BlockingIOError:
                    blocked_writes += 1
                if sent == BULK:
                    sel.unregister(a)
                    a.shutdown(socket.SHUT_WR)
            else:
                while True:
                    try:
                        data = b.recv(262144)
                    except BlockingIOError:
                        break
                    if not data:
                        break
                    received.update(data)
                    nrecv += len(data)
    print("bulk: sent %d, received %d, digest equal: %s" % (
        sent, nrecv, received.hexdigest() == hashlib.sha256(payload).hexdigest()))
    print("bulk: the writer was blocked at least once:", blocked_writes > 0)
    # EOF after shutdown
    events = sel.select(timeout=BOUND)
    print("bulk: after shutdown, reader ready:", [m for _, m in events] == [selectors.EVENT_READ],
          "recv:", b.recv(10))
    sel.close()
    a.close()
    b.close()


def selector_api():
    """The selector's own contract on top of epoll_ctl."""
    sel = selectors.DefaultSelector()
    a, b = socket.socketpair()
    key = sel.register(a, selectors.EVENT_READ, "data-a")
    print("register:", key.events, key.data)
    try:
        sel.register(a, selectors.EVENT_READ)
    except KeyError:
        print("register twice: KeyError")
    print("select, nothing ready:", sel.select(timeout=0))
    b.send(b"x")
    print("select after send:", [(k.data, m) for k, m in sel.select(timeout=BOUND)])
    sel.modify(a, selectors.EVENT_READ | selectors.EVENT_WRITE, "data-a2")
    print("select after modify:", sorted((k.data, m) for k, m in sel.select(timeout=BOUND)))
    sel.unregister(a)
    print("select after unregister:", sel.select(timeout=0))
    # A closed socket's number is reused by the next socket: registering
    # the new one works (the kernel dropped the old item with the file).
    c, d = socket.socketpair()
    sel.register(c, selectors.EVENT_READ, "c")
    num = c.fileno()
    c.close()
    # The selector still maps the number; its epoll_ctl(DEL) fails with
    # EBADF, which selectors ignores.
    sel.unregister(num)
    e, f = socket.socketpair()
    print("new socket reuses the closed number:", e.fileno() == num)
    sel.register(e, selectors.EVENT_READ, "e")
    f.send(b"y")
    print("select on the reused number:", [(k.data, m) for k, m in sel.select(timeout=BOUND)])
    for s in (a, b, d, e, f):
        s.close()
    sel.close()


def main():
    shimtest.report_backend()
    echo_server_and_clients()
    bulk_socketpair()
    selector_api()
    shimtest.report_eventpoll_at_exit()
    return 0


if __name__ == "__main__":
    sys.exit(main())
