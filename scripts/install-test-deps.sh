#!/usr/bin/env bash
# Installs the real programs the tests drive, from Debian's packages, when
# they are missing. Needs root for apt-get; without it, says what to install.
set -euo pipefail

need=()
command -v ldapwhoami >/dev/null 2>&1 || need+=(ldap-utils)
command -v oathtool   >/dev/null 2>&1 || need+=(oathtool)
command -v gcc        >/dev/null 2>&1 || need+=(gcc libc6-dev)

if [ ${#need[@]} -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "missing test dependencies: ${need[*]}" >&2
  echo "install them with: sudo apt-get install ${need[*]}" >&2
  exit 1
fi
echo "installing test dependencies: ${need[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
