#!/usr/bin/env bash
# Debian packages the end-to-end tests drive for real: Chromium (the Streamlit app in a browser)
# and PostgreSQL (the store under concurrent annotators). Installs what is missing when run as
# root with apt-get; otherwise says what to install and fails.
set -euo pipefail
need=()
[ -x /usr/bin/chromium ] || need+=(chromium)
compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || need+=(postgresql)
[ ${#need[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null; then
    echo "the end-to-end tests need these Debian packages: ${need[*]} (sudo apt-get install ${need[*]})" >&2
    exit 1
fi
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
