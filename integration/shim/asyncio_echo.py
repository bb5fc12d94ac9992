"""asyncio_echo.py - an asyncio TCP echo server with concurrent clients,
subprocesses with pipes (asyncio.create_subprocess_exec), add_reader on a
socketpair and a signal handler, on one event loop.

Why: asyncio is the most common epoll user in Python; its loop keeps a
self-pipe for wake-ups from other threads and signals, watches
subprocess pipes, and adds/removes readers and writers constantly.  The
subprocesses inherit LD_PRELOAD, so under the shim they run on uepoll too.
Run natively and under libuepoll.so: the transcript (per-client echoes
sorted by client, subprocess outputs and exit codes, byte counts) and the
exit status must be identical.  Every wait is bounded by a generous
timeout (a lost wake-up fails, slowness does not).
"""
import asyncio
import hashlib
import os
import signal
import socket
import sys

import shimtest

CLIENTS = 10
LINES = 5
BOUND = 20.0


async def handle(reader, writer):
    while True:
        line = await reader.readline()
        if not line:
            break
        writer.write(line.upper())
        await writer.drain()
    writer.close()
    await writer.wait_closed()


async def client(port, i):
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    echoes = []
    for n in range(LINES):
        writer.write(b"client %d line %d\n" % (i, n))
        await writer.drain()
        echoes.append((await reader.readline()).decode().strip())
    writer.write_eof()
    rest = await reader.read()
    writer.close()
    await writer.wait_closed()
    return i, echoes, rest


async def echo_test():
    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    results = await asyncio.wait_for(
        asyncio.gather(*(client(port, i) for i in range(CLIENTS))), BOUND)
    for i, echoes, rest in sorted(results):
        print("client %d: %s; after EOF: %r" % (i, " | ".join(echoes), rest))
    # A bigger payload through the same server.
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    blob = (b"abcdefghij" * 100 + b"\n") * 2000
    writer.write(blob)
    writer.write_eof()
    got = await asyncio.wait_for(reader.read(), BOUND)
    print("bulk echo: sent %d, received %d, equal to upper: %s" % (
        len(blob), len(got), got == blob.upper()))
    writer.close()
    server.close()
    await server.wait_closed()


async def subprocess_test():
    code = ("import sys; data = sys.stdin.buffer.read(); "
            "sys.stdout.buffer.write(data.upper()); "
            "sys.stderr.write('stderr line\\n'); sys.exit(3)")
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", code,
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(b"hello subprocess\n"), BOUND)
    print("python child: stdout %r, stderr %r, returncode %d" % (out, err, proc.returncode))

    # cat with 1 MiB each way: the pipes fill up, so the loop has to
    # interleave writing stdin and reading stdout.
    data = os.urandom(1 << 20)
    proc = await asyncio.create_subprocess_exec(
        "cat", stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE)
    out, _ = await asyncio.wait_for(proc.communicate(data), BOUND)
    print("cat: %d bytes back, same digest: %s, returncode %d" % (
        len(out), hashlib.sha256(out).digest() == hashlib.sha256(data).digest(), proc.returncode))

    # Several at once, read line by line.
    procs = [await asyncio.create_subprocess_exec(
        "sh", "-c", "for i in 1 2 3; do echo child %d line $i; done; exit %d" % (k, k),
        stdout=asyncio.subprocess.PIPE) for k in range(4)]

    async def lines(p):
        out = []
        while True:
            line = await p.stdout.readline()
            if not line:
                break
            out.append(line.decode().strip())
        return out, await p.wait()

    for k, (out, rc) in enumerate(await asyncio.wait_for(
            asyncio.gather(*(lines(p) for p in procs)), BOUND)):
        print("sh %d: %s; exit %d" % (k, " | ".join(out), rc))


async def reader_and_signal_test():
    loop = asyncio.get_running_loop()
    a, b = socket.socketpair()
    a.setblocking(False)
    b.setblocking(False)
    got = asyncio.Queue()

    def on_readable():
        try:
            data = a.recv(100)
        except BlockingIOError:
            return
        got.put_nowait(data)

    loop.add_reader(a, on_readable)
    for word in (b"one", b"two", b"three"):
        b.send(word)
        print("add_reader got:", await asyncio.wait_for(got.get(), BOUND))
    print("remove_reader:", loop.remove_reader(a))
    print("remove_reader again:", loop.remove_reader(a))

    fired = asyncio.Event()
    loop.add_signal_handler(signal.SIGUSR1, fired.set)
    os.kill(os.getpid(), signal.SIGUSR1)
    await asyncio.wait_for(fired.wait(), BOUND)
    print("signal handler ran:", fired.is_set())
    loop.remove_signal_handler(signal.SIGUSR1)

    # call_soon_threadsafe wakes the loop through its self-pipe.
    done = asyncio.Event()
    loop.run_in_executor(None, lambda: loop.call_soon_threadsafe(done.set))
    await asyncio.wait_for(done.wait(), BOUND)
    print("woken from another thread:", done.is_set())
    a.close()
    b.close()


async def main():
    loop = asyncio.get_running_loop()
    print("selector =", type(loop._selector).__name__)
    await echo_test()
    await subprocess_test()
    await reader_and_signal_test()


if __name__ == "__main__":
    shimtest.report_backend()
    asyncio.run(main())
    shimtest.report_eventpoll_at_exit()
