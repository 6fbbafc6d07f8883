#!/bin/bash
# Mutation testing of the collector's ingest: mutmut reads its settings
# from pyproject.toml in the directory it runs in, so run it in a copy of
# the tree (kept in .mutation-collector/ for later re-runs) whose
# [tool.mutmut] table is tools/mutmut-collector.toml.
#   bash tools/mutation-collector.sh                 # run, then list results
#   bash tools/mutation-collector.sh show NAME       # any mutmut command
set -euo pipefail
cd "$(dirname "$0")/.."
top=$PWD
# tox passes its own interpreter; by hand, the work tree's venv.
python=${PYTHON:-$top/.venv/bin/python}
mutmut=$(dirname "$python")/mutmut
work=$top/.mutation-collector
mkdir -p "$work"
# The tracked files as they are in the work tree; mutmut's state
# (tree/mutants/) stays, so a re-run only re-checks what changed.
mkdir -p "$work/tree"
git ls-files -z | xargs -0 tar -cf - | tar -xf - -C "$work/tree"
"$python" - "$work/tree/pyproject.toml" \
    tools/mutmut-collector.toml <<'PY'
import re
import sys

path, table = sys.argv[1], open(sys.argv[2]).read()
text = open(path).read()
# Drop the sender's [tool.mutmut] table (up to the next table), add ours.
text = re.sub(r"(?ms)^\[tool\.mutmut\]\n.*?(?=^\[|\Z)", "", text)
open(path, "w").write(text.rstrip() + "\n\n" + table)
PY
cd "$work/tree"
if [ $# -eq 0 ]; then
    "$mutmut" run --max-children 2
    "$mutmut" results
else
    "$mutmut" "$@"
fi
