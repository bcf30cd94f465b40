#!/bin/sh
# Installs the Debian packages ade needs to build and test, if any are
# missing.  As root it runs apt-get (after one apt-get update); otherwise it
# prints the exact command to run and fails.  Package list: docs/dependencies.md.
set -eu
here=$(dirname "$0")
pkgs=$(grep -v '^#' "$here/debian-packages.txt" | tr -s ' \n' ' ')
[ "${1:-}" = "--with-fuzz" ] && pkgs="$pkgs clang"
missing=""
for p in $pkgs; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing="$missing $p"
  fi
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
  echo "ade: missing Debian packages:$missing" >&2
  echo "run:  sudo apt-get update && sudo apt-get install -y$missing" >&2
  exit 1
fi
echo "ade: installing$missing" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends $missing >/dev/null
