#!/usr/bin/python3
"""seccomp_profile.py - run a command under a seccomp filter built the way
systemd builds one for SystemCallFilter= (an allow list, minus deny lists).

Usage: seccomp_profile.py [--allow GROUP]... [--deny GROUP]... [--deny-call NAME]... \
                          [--errno EPERM] -- COMMAND [ARGS...]

  --allow GROUP  allow the syscalls of integration/shim/systemd/GROUP.txt
                 (systemd's @GROUP, expanded by regenerate.sh)
  --deny GROUP   then take the syscalls of GROUP.txt out again (systemd's
                 "SystemCallFilter=~@GROUP")
  --deny-call NAME  take one syscall out ("SystemCallFilter=~NAME")
  --errno NAME   a refused call fails with this errno (systemd's
                 SystemCallErrorNumber=); without it the process is killed,
                 as systemd does by default (SECCOMP_RET_KILL_PROCESS)

The filter is installed with no_new_privs, then COMMAND is exec'd: it
starts inside the sandbox, as a service started by systemd does.  Names
that x86-64 does not have (the _time64 calls of 32-bit ABIs) are ignored;
the x32 ABI and other architectures are refused, as systemd refuses them.
"""
import ctypes
import errno
import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
UNISTD = "/usr/include/x86_64-linux-gnu/asm/unistd_64.h"

AUDIT_ARCH_X86_64 = 0xC000003E
SECCOMP_RET_KILL_PROCESS = 0x80000000
SECCOMP_RET_ERRNO = 0x00050000
SECCOMP_RET_ALLOW = 0x7FFF0000
BPF_LD_W_ABS = 0x20
BPF_JEQ_K = 0x15
BPF_JGE_K = 0x35
BPF_RET_K = 0x06
PR_SET_NO_NEW_PRIVS = 38
SYS_SECCOMP = 317
SECCOMP_SET_MODE_FILTER = 1


class SockFilter(ctypes.Structure):
    _fields_ = [("code", ctypes.c_uint16), ("jt", ctypes.c_uint8),
                ("jf", ctypes.c_uint8), ("k", ctypes.c_uint32)]


class SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_uint16), ("filter", ctypes.POINTER(SockFilter))]


def syscall_numbers():
    nrs = {}
    with open(UNISTD) as f:
        for line in f:
            m = re.match(r"#define __NR_(\w+)\s+(\d+)", line)
            if m:
                nrs[m.group(1)] = int(m.group(2))
    return nrs


def group(name):
    with open(os.path.join(HERE, "systemd", name + ".txt")) as f:
        return {l.strip() for l in f if l.strip() and not l.startswith("#")}


def main(argv):
    allow, deny, action = set(), set(), SECCOMP_RET_KILL_PROCESS
    while argv and argv[0] != "--":
        opt, val = argv[0], argv[1]
        argv = argv[2:]
        if opt == "--allow":
            allow |= group(val)
        elif opt == "--deny":
            deny |= group(val)
        elif opt == "--deny-call":
            deny.add(val)
        elif opt == "--errno":
            action = SECCOMP_RET_ERRNO | getattr(errno, val)
        else:
            sys.exit("seccomp_profile.py: unknown option " + opt)
    if not argv or len(argv) < 2:
        sys.exit(__doc__)
    cmd = argv[1:]
    nrs = syscall_numbers()
    allowed = sorted(nrs[s] for s in allow - deny if s in nrs)

    prog = [SockFilter(BPF_LD_W_ABS, 0, 0, 4),                  # seccomp_data.arch
            SockFilter(BPF_JEQ_K, 1, 0, AUDIT_ARCH_X86_64),
            SockFilter(BPF_RET_K, 0, 0, SECCOMP_RET_KILL_PROCESS),
            SockFilter(BPF_LD_W_ABS, 0, 0, 0),                  # seccomp_data.nr
            SockFilter(BPF_JGE_K, 0, 1, 0x40000000),            # the x32 ABI
            SockFilter(BPF_RET_K, 0, 0, action)]
    for nr in allowed:
        prog.append(SockFilter(BPF_JEQ_K, 0, 1, nr))
        prog.append(SockFilter(BPF_RET_K, 0, 0, SECCOMP_RET_ALLOW))
    prog.append(SockFilter(BPF_RET_K, 0, 0, action))

    arr = (SockFilter * len(prog))(*prog)
    fprog = SockFprog(len(prog), arr)
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        sys.exit("prctl(PR_SET_NO_NEW_PRIVS): " + os.strerror(ctypes.get_errno()))
    if libc.syscall(SYS_SECCOMP, SECCOMP_SET_MODE_FILTER, 0, ctypes.byref(fprog)) != 0:
        sys.exit("seccomp: " + os.strerror(ctypes.get_errno()))
    os.execvp(cmd[0], cmd)


if __name__ == "__main__":
    main(sys.argv[1:])
