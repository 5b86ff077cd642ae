#!/usr/bin/env bash
# The Debian version of this tree, from `git describe`, made policy-compliant
# (a native package: digits first, only [0-9A-Za-z.+~], no hyphen):
#   v1.2.0            -> 1.2.0
#   v1.2.0-5-gabc1234 -> 1.2.0+git5.gabc1234
#   abc1234 (no tag)  -> 0.0~git<commits>.gabc1234   (sorts below any 0.0 release)
#   ...-dirty         -> ...+dirty
set -euo pipefail
cd "$(dirname "$0")/.."
dirty=""
if ! git describe --tags --abbrev=0 >/dev/null 2>&1; then   # no tag at all
    desc=$(git describe --always --dirty 2>/dev/null || echo unknown)
    case "$desc" in *-dirty) dirty="+dirty"; desc=${desc%-dirty} ;; esac
    if [[ "$desc" =~ ^[0-9a-f]+$ ]]; then
        echo "0.0~git$(git rev-list --count HEAD).g$desc$dirty"
    else
        echo "0.0~unknown"
    fi
    exit 0
fi
desc=$(git describe --tags --dirty)
case "$desc" in *-dirty) dirty="+dirty"; desc=${desc%-dirty} ;; esac
if [[ "$desc" =~ ^v?([0-9][0-9A-Za-z.+~]*)-([0-9]+)-g([0-9a-f]+)$ ]]; then
    v="${BASH_REMATCH[1]}+git${BASH_REMATCH[2]}.g${BASH_REMATCH[3]}"
elif [[ "$desc" =~ ^v?([0-9][0-9A-Za-z.+~]*)$ ]]; then
    v="${BASH_REMATCH[1]}"
else
    v="0.0~unknown"
fi
echo "$v$dirty"
