#!/usr/bin/env bash
# The one system library gridsync builds against beyond the Rust toolchain,
# gcc and python3: OpenSSL's libcrypto headers, which the bundled SQLCipher
# links to (the stores are encrypted at rest). Installs them with apt-get
# when missing; does nothing when present.
set -euo pipefail
if [ -e /usr/include/openssl/evp.h ] || [ -e /usr/local/include/openssl/evp.h ]; then
  exit 0
fi
SUDO=""
if [ "$(id -u)" != 0 ]; then
  if command -v sudo >/dev/null; then
    SUDO="sudo"
  else
    echo "scripts/deps.sh: OpenSSL's headers are missing (libssl-dev) and this user can neither install them nor sudo; install libssl-dev (Debian/Ubuntu) or openssl-devel (Fedora) and run again" >&2
    exit 1
  fi
fi
if ! command -v apt-get >/dev/null; then
  echo "scripts/deps.sh: OpenSSL's headers are missing and there is no apt-get here; install your system's OpenSSL development package (openssl-devel, openssl-dev) and run again" >&2
  exit 1
fi
echo "scripts/deps.sh: installing libssl-dev (OpenSSL's headers, for SQLCipher)" >&2
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq libssl-dev
