#!/usr/bin/env bash
# Record the performance history's benchmarks (history_subset.txt) for
# commits, default HEAD, into benchmarks/results/ci-2core/ (asv builds each
# commit in its own environment under .asv/env).  Commit the new result
# files afterwards.  Run on an otherwise idle machine of the 2-core class.
#
#   bash benchmarks/record_history.sh               # HEAD
#   bash benchmarks/record_history.sh abc1234 def5678
set -euo pipefail
cd "$(dirname "$0")"
asv machine --machine ci-2core --yes >/dev/null
if [ "$#" -eq 0 ]; then
    set -- HEAD
fi
for rev in "$@"; do
    asv run --machine ci-2core --skip-existing-commits \
        -b "$(cat history_subset.txt)" "$(git rev-parse "$rev")^!"
done
