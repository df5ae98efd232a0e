# Shared by bin/smartfarm and bin/test: make ./.venv with Python 3.11+ and install the project.
# Reinstalls when pyproject.toml changes (a stamp holds its hash).

find_python() {
  for candidate in python3.13 python3.12 python3.11 python3; do
    if command -v "$candidate" >/dev/null 2>&1 &&
       "$candidate" -c 'import sys; raise SystemExit(sys.version_info < (3, 11))' 2>/dev/null; then
      echo "$candidate"; return 0
    fi
  done
  echo "smartfarm needs Python 3.11 or newer: on Debian/Ubuntu run 'sudo apt-get install python3 python3-venv'" >&2
  return 1
}

ensure_venv() {  # $1: extra pip arguments (for example "--group dev")
  local root="$1" extra="${2:-}" python stamp want
  stamp="$root/.venv/.smartfarm-installed"
  want="$(sha256sum "$root/pyproject.toml" | cut -d' ' -f1) $extra"
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && [ -x "$root/.venv/bin/smartfarm" ]; then
    return 0
  fi
  if [ ! -x "$root/.venv/bin/python" ]; then
    python="$(find_python)" || return 1
    echo "creating $root/.venv with $python" >&2
    "$python" -m venv "$root/.venv" || {
      echo "could not create a virtual environment: on Debian/Ubuntu run 'sudo apt-get install python3-venv'" >&2
      return 1
    }
  fi
  echo "installing smartfarm and its dependencies into .venv (first run only)" >&2
  # pip 25.1+ understands dependency groups (--group dev).
  "$root/.venv/bin/python" -m pip install --quiet --upgrade "pip>=25.1"
  # shellcheck disable=SC2086
  "$root/.venv/bin/python" -m pip install --quiet -e "$root" $extra
  echo "$want" > "$stamp"
}
