# uepoll: build and test in a clean Debian 12.
#
#   docker build -t uepoll .
#   docker run --rm --init uepoll                                   # scripts/test-all.sh
#   docker run --rm --init uepoll bash scripts/run-main.sh --quick  # the nginx job
#
# integration/docker-check does all three and reports results and times; with
# no Docker engine it uses podman (runc, a debian:12 made with debootstrap,
# no registry needed): see README.md, section Docker.
#
# Both scripts run scripts/setup-deps.sh first, which finds everything
# installed (the layer below) and so needs no network at run time.
# .dockerignore keeps the host's build trees and .git out of the context.
#
# --init gives the container a real PID 1 that reaps orphans: the nginx
# integration job starts nginx as a daemon, whose master is re-parented to
# PID 1 when it detaches.
#
# Inside, the tests run as root without CAP_SYS_PTRACE and with /proc/sys
# read-only: the nginx scripts run nginx's workers as root too, so that their
# /proc/PID/fd and maps stay readable, and the tests that must lower
# /proc/sys/fs/epoll/max_user_watches skip, saying so.
FROM debian:12

ENV DEBIAN_FRONTEND=noninteractive \
    LANG=C.UTF-8

WORKDIR /src/uepoll

# Dependencies first, in their own layer, so that editing the sources does not
# reinstall them.
COPY scripts/setup-deps.sh scripts/setup-deps.sh
RUN sh scripts/setup-deps.sh && rm -rf /var/lib/apt/lists/*

COPY . .

# A build directory copied from the host belongs to another path; start over.
RUN rm -rf build \
    && cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    && cmake --build build -j2

CMD ["bash", "scripts/test-all.sh"]
