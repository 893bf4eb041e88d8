#!/bin/sh
# Programs the test suite drives as real clients (curl, openssl, fetchmail, getmail, mpop,
# mbsync, offlineimap).
# Installed from Debian packages when missing and when we may (root); tests that need
# one that is still missing fail with the program's name.
set -e
need=""
command -v curl >/dev/null 2>&1 || need="$need curl"
command -v openssl >/dev/null 2>&1 || need="$need openssl"
command -v fetchmail >/dev/null 2>&1 || need="$need fetchmail"
command -v getmail >/dev/null 2>&1 || need="$need getmail6"
command -v mpop >/dev/null 2>&1 || need="$need mpop"
command -v mbsync >/dev/null 2>&1 || need="$need isync"
command -v offlineimap >/dev/null 2>&1 || need="$need offlineimap3"
[ -z "$need" ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing test clients:$need"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null
    apt-get install -y -qq --no-install-recommends $need >/dev/null
else
    echo "missing test clients:$need (install them, or run make test as root on Debian)" >&2
    exit 1
fi
