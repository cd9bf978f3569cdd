# shellcheck shell=bash
# Installing Debian packages for the project's scripts.
#
#   packages_install PKG...   install the packages that are missing (as root;
#                             maintainer scripts may not start daemons: our
#                             scripts start the servers they need themselves)
#   packages_install_build    what the build links: the three databases'
#                             client libraries (diesel links all three), and
#                             libssl-dev and pkg-config for the libpq built
#                             into the binaries (pq-sys's `bundled` links the
#                             system's OpenSSL); no server

_pkgs_log() { echo "packages: $*" >&2; }

packages_install() {
    local missing=() p
    for p in "$@"; do
        if [[ "$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null)" != "install ok installed" ]]; then
            missing+=("$p")
        fi
    done
    if ((${#missing[@]} == 0)); then
        return 0
    fi
    if [[ "$(id -u)" != 0 ]]; then
        _pkgs_log "missing packages: ${missing[*]} (run as root to install them)"
        return 1
    fi
    _pkgs_log "installing ${missing[*]}"
    local policy=/usr/sbin/policy-rc.d created_policy=0 rc=0
    if [[ ! -e "$policy" ]]; then
        printf '#!/bin/sh\nexit 101\n' >"$policy"
        chmod 755 "$policy"
        created_policy=1
    fi
    {
        DEBIAN_FRONTEND=noninteractive apt-get update -qq &&
            DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
    } || rc=$?
    if ((created_policy)); then
        rm -f "$policy"
    fi
    return "$rc"
}

packages_install_build() {
    packages_install libmariadb-dev libmariadb-dev-compat libpq-dev libsqlite3-dev \
        libssl-dev pkg-config
}
