#!/usr/bin/env bash
# check-layers.sh - the layers include downward only: core <- interpose <- shim.
#
#   core/       includes nothing of interpose/ or shim/ (its platform
#               contract is core/platform.hpp, which interpose implements);
#   interpose/  includes nothing of shim/;
#   core/internal.hpp is seen by core/ files only.
#
# Prints each offending line and exits 1; prints one line and exits 0 when
# the tree is clean.  Run by ctest (check_layers) and so by the test command.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.." || exit 1

inc='^[[:space:]]*#[[:space:]]*include[[:space:]]*"'
bad=$( {
    grep -nE "$inc(interpose|shim)/" core/* 2>/dev/null
    grep -nE "${inc}shim/" interpose/* 2>/dev/null
    grep -rnE --include='*.[ch]' --include='*.[ch]pp' "${inc}core/internal\.hpp\"" \
        shim interpose tests integration 2>/dev/null
} )
if [[ -n $bad ]]; then
    printf 'check-layers: includes against the layering (core <- interpose <- shim):\n%s\n' "$bad" >&2
    exit 1
fi
echo "check-layers: core <- interpose <- shim, core/internal.hpp private to core/"
