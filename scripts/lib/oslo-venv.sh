# shellcheck shell=bash
# A Python virtualenv with oslo.messaging and oslo.context, for the RPC
# wire-interop tests (crates/rpc/tests/interop).
#
# Source this file, then call:
#   oslo_venv   create (or reuse) target/oslo-venv; installs python3-venv
#               first when it is missing (Debian, as root); exports
#               TRICIRCLE_OSLO_VENV
#
# The tests find the interpreter at target/oslo-venv/bin/python
# (or $TRICIRCLE_OSLO_VENV/bin/python). The export is what un-ignores the
# interop tests in a build made after the venv (crates/rpc/build.rs).

# shellcheck source=packages.sh
source "$(dirname "${BASH_SOURCE[0]}")/packages.sh"

oslo_venv() {
    local venv="${TRICIRCLE_OSLO_VENV:-$PWD/target/oslo-venv}"
    local py="$venv/bin/python"
    export TRICIRCLE_OSLO_VENV="$venv"
    if [[ -x "$py" ]] && "$py" -c 'import oslo_messaging, oslo_context' 2>/dev/null; then
        return 0
    fi
    if ! python3 -c 'import venv, ensurepip' 2>/dev/null; then
        packages_install python3-venv || return 1
    fi
    echo "oslo-venv: creating $venv with oslo.messaging and oslo.context" >&2
    python3 -m venv "$venv" &&
        "$venv/bin/pip" install -q --disable-pip-version-check oslo.messaging oslo.context &&
        "$py" -c 'import oslo_messaging, oslo_context'
}
