#!/usr/bin/env bash
# Installs the Debian packages a target needs when they are missing (as root), or says what to install.
#   infra/debian-packages.sh run|test
set -euo pipefail
case "${1:-run}" in
  run)  packages=(fonts-noto-cjk libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0) ;;
  test) packages=(fonts-noto-cjk libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 chromium zbar-tools poppler-utils) ;;
  *) echo "usage: $0 run|test" >&2; exit 2 ;;
esac
missing=()
for package in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" = "0" ]; then
  echo "[packages] installing: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
  echo "[packages] missing Debian packages: ${missing[*]}" >&2
  echo "[packages] install them with: sudo apt-get install -y ${missing[*]}" >&2
  [ "${1}" = "test" ] && exit 1
fi
