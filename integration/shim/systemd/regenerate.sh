#!/usr/bin/env bash
# regenerate.sh - write the syscall groups of systemd's SystemCallFilter=
# that the systemd_sandbox shim test uses, expanded to plain syscall names,
# one file per group (GROUP.txt without the '@').
#
# Usage: integration/shim/systemd/regenerate.sh
#
# The files are committed (generated from Debian 12's systemd 252 with
# `systemd-analyze syscall-filter`), so the test runs where systemd is not
# installed (a minbase container).  Run this again to follow a newer
# systemd; the first line of each file says which version made it.
set -euo pipefail
cd "$(dirname "$0")"
expand() {
    systemd-analyze syscall-filter "$1" | sed -n '2,$p' | sed 's/#.*//' | awk 'NF' |
        while read -r s; do
            case $s in
                @*) expand "$s" ;;
                *) echo "$s" ;;
            esac
        done
}
ver=$(systemd --version | head -1)
for g in system-service privileged resources ipc; do
    { echo "# @$g, expanded by 'systemd-analyze syscall-filter' of $ver"; expand "@$g" | sort -u; } > "$g.txt"
done
