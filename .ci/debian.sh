#!/bin/sh
# Install the Debian packages the tests use as independent peers, when missing.
#
#   .ci/debian.sh PACKAGE...
#
# Needs root for apt-get; without root, a missing package is an error that names it.
set -eu
missing=""
for package in "$@"; do
    dpkg -s "$package" >/dev/null 2>&1 || missing="$missing $package"
done
[ -n "$missing" ] || exit 0
if [ "$(id -u)" != 0 ]; then
    echo "debian.sh: missing packages:$missing (run apt-get install$missing as root)" >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >&2
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing >&2
