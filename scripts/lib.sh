# Shell helpers shared by scripts/*.sh (sourced, not run).

APT_INSTALL='apt-get install -y --no-install-recommends'
ACTIVEMQ_JAR=/usr/share/activemq/bin/activemq.jar

have() { command -v "$1" >/dev/null 2>&1; }

# Runs a command as root: directly, through passwordless sudo, or not at all (status 1).
as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"
  elif have sudo && sudo -n true 2>/dev/null; then sudo -n "$@"
  else return 1
  fi
}
can_root() { [ "$(id -u)" -eq 0 ] || { have sudo && sudo -n true 2>/dev/null; }; }

# ensure_package PKG CHECK...: when CHECK (a command) fails, installs Debian's PKG if we may;
# returns 1 with one line on stderr (what to install) when CHECK still fails.
ensure_package() {
  local pkg=$1; shift
  if ! "$@" && have apt-get && can_root; then
    echo "$pkg: missing, installing Debian's $pkg package" >&2
    apt-cache show "$pkg" >/dev/null 2>&1 || as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive $APT_INSTALL "$pkg" >/dev/null
  fi
  if ! "$@"; then
    echo "$pkg: MISSING — install it (as root): $APT_INSTALL $pkg" >&2
    return 1
  fi
}

activemq_present() { [ -f "$ACTIVEMQ_JAR" ] && have java; }

# True when Debian's python3 (the one Debian's python3-* packages install for) imports module $1.
python_module() { [ -x /usr/bin/python3 ] && /usr/bin/python3 -c "import $1" 2>/dev/null; }
