#!/usr/bin/env bash
# Checks that every C++ file of the repository is formatted as .clang-format says (clang-format 14,
# Debian 12's; other versions format some constructs differently). Installs clang-format from
# Debian when it is missing. Fix a failure with: git ls-files '*.cc' '*.h' | xargs clang-format -i
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v clang-format >/dev/null; then
  SUDO=()
  [[ $(id -u) -ne 0 ]] && SUDO=(sudo)
  DEBIAN_FRONTEND=noninteractive "${SUDO[@]}" apt-get install -y -qq --no-install-recommends clang-format >/dev/null
fi
version=$(clang-format --version)
[[ $version == *" 14."* ]] || echo "check-format: warning: .clang-format is kept with clang-format 14; this is: $version" >&2
files=$(git ls-files '*.cc' '*.h')
if ! clang-format --dry-run --Werror $files; then
  echo "check-format: the files above are not formatted; run: git ls-files '*.cc' '*.h' | xargs clang-format -i" >&2
  exit 1
fi
echo "check-format: $(echo "$files" | wc -l) files formatted"
