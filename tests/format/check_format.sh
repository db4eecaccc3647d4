#!/usr/bin/env bash
# Every C++ file of the tree is as clang-format (.clang-format at the root) writes it.
#   tests/format/check_format.sh          check (what CTest runs)
#   tests/format/check_format.sh --fix    rewrite the files in place
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
CF="${CLANG_FORMAT:-clang-format}"
command -v "$CF" >/dev/null || { echo "clang-format not found: run scripts/bootstrap"; exit 1; }
mapfile -t files < <(find libs services bench tests docs/examples -type f \( -name '*.cpp' -o -name '*.hpp' -o -name '*.h' \) | sort)
[ ${#files[@]} -gt 100 ] || { echo "found only ${#files[@]} C++ files: wrong directory?"; exit 1; }
if [ "${1:-}" = --fix ]; then
  "$CF" -i "${files[@]}"
  echo "formatted ${#files[@]} files"
  exit 0
fi
bad=()
for f in "${files[@]}"; do
  "$CF" --dry-run --Werror "$f" >/dev/null 2>&1 || bad+=("$f")
done
if [ ${#bad[@]} -gt 0 ]; then
  printf 'not clang-formatted: %s\n' "${bad[@]}"
  echo "${#bad[@]} of ${#files[@]} files differ from clang-format; fix with tests/format/check_format.sh --fix"
  exit 1
fi
echo "${#files[@]} files clang-format clean ($("$CF" --version))"
