"""shimtest.py - what the Python shim tests share (the twin of shimtest.h).

The Python programs print a transcript on stdout that compare.sh compares
between a native run and a run with libuepoll.so preloaded; on stderr they
say which epoll they ran on, as the C programs do.
"""
import sys


def report_backend():
    """Writes 'shimtest: backend=uepoll|native' to stderr (for compare.sh)."""
    with open("/proc/self/maps") as maps:
        shim = any("libuepoll" in line for line in maps)
    print("shimtest: backend=%s" % ("uepoll" if shim else "native"), file=sys.stderr, flush=True)


def eventpoll_fds():
    """Number of this process's fds that are kernel epoll instances."""
    import os
    count = 0
    for name in os.listdir("/proc/self/fd"):
        try:
            if os.readlink("/proc/self/fd/" + name) == "anon_inode:[eventpoll]":
                count += 1
        except OSError:
            pass
    return count


def report_eventpoll_at_exit():
    print("shimtest: eventpoll fds at exit = %d" % eventpoll_fds(), file=sys.stderr, flush=True)
