#!/usr/bin/env bash
# Print the path of a working Python 3.12 or 3.13 interpreter (genotile needs >= 3.12).
# pyenv shims can exist for versions that are not selected, so each candidate is run, not just found.
set -u
for candidate in python3.12 python3.13 "$HOME"/.pyenv/versions/3.12*/bin/python3.12 "$HOME"/.pyenv/versions/3.13*/bin/python3.13 \
                 /usr/bin/python3.12 /usr/local/bin/python3.12 /usr/bin/python3.13 python3; do
  if out=$("$candidate" -c 'import sys; assert (3, 12) <= sys.version_info[:2] < (3, 14); print(sys.executable)' 2>/dev/null); then
    echo "$out"; exit 0
  fi
done
echo "genotile needs Python 3.12 or 3.13; none was found (tried python3.12, pyenv, /usr/bin)." >&2
exit 1
