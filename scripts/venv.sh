# Sourced by scripts/demo and scripts/test: create .venv with python3 if it is missing.

log() { printf '==> %s\n' "$*" >&2; }

ensure_venv() {
  [ -x .venv/bin/python ] && return 0
  local python=${PYTHON:-python3}
  log "creating the virtual environment .venv ($($python --version 2>&1))"
  if ! "$python" -m venv .venv 2>/dev/null; then
    # Debian ships venv's pip bootstrap separately; install it when we may, then retry
    rm -rf .venv
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
      local minor
      minor=$("$python" -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')
      { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "python$minor-venv"; } \
        >/dev/null </dev/null || { log "could not install python$minor-venv"; return 1; }
      "$python" -m venv .venv
    else
      log "'$python -m venv' failed; install your distribution's python3-venv package and retry"
      return 1
    fi
  fi
  .venv/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip
}

compile_translations() {
  # the UI's catalogues (translations/*/LC_MESSAGES/messages.po) compiled at install, never at run time
  .venv/bin/pybabel compile --use-fuzzy -d translations >/dev/null 2>&1 || log "could not compile translations; the UI falls back to English"
}
