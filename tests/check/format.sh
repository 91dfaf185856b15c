#!/usr/bin/env bash
# Fails, listing the files, when any C source under the project is not clang-format clean.
set -u
cd "${1:?usage: format.sh SOURCE_DIR}" || exit 2
command -v clang-format >/dev/null || { echo "clang-format not found: apt-get install -y clang-format"; exit 2; }
files=$(find libring ringd sim tests -name '*.[ch]' -not -path '*/corpus/*' | sort)
bad=0
for f in $files; do
    if ! clang-format --dry-run --Werror "$f" >/dev/null 2>&1; then
        echo "not formatted: $f (run: clang-format -i $f)"
        bad=1
    fi
done
exit $bad
