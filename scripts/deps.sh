#!/usr/bin/env bash
# Checks for the Debian packages duet builds and tests with; installs the missing ones
# with apt-get when run as root, or prints the command to run otherwise.
set -euo pipefail
# libxml2-utils (xmllint) and python3-jsonschema validate the JUnit and SARIF reports in
# the tests, which skip without them; gnuplot-nox draws the report plots.
need=(cmake make gcc pkg-config libcmocka-dev libcjson-dev libxml2-utils python3-jsonschema
      gnuplot-nox)
missing=()
for p in "${need[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -eq 0 ]; then
  echo "deps: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -q "${missing[@]}" >/dev/null 2>&1 || { apt-get update -q >/dev/null && apt-get install -y -q "${missing[@]}" >/dev/null; }
else
  echo "deps: missing Debian packages: ${missing[*]}" >&2
  echo "deps: run: sudo apt-get install -y ${missing[*]}" >&2
  exit 2
fi
