#!/usr/bin/env bash
# Sets up a fresh Debian/Ubuntu checkout: installs the system packages listed in
# scripts/system-packages.txt that are missing, then npm ci (which builds the native addon from source,
# since a git checkout carries no prebuilt binaries) and npm run build (TypeScript + addon).
set -euo pipefail
cd "$(dirname "$0")/.."

mapfile -t wanted < <(sed 's/#.*//' scripts/system-packages.txt | xargs -n1)
missing=()
for pkg in "${wanted[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if ((${#missing[@]})); then
  echo "setup: installing system packages: ${missing[*]}"
  sudo_cmd=()
  if [ "$(id -u)" -ne 0 ]; then sudo_cmd=(sudo); fi
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
else
  echo "setup: system packages present"
fi

npm ci --no-audit --no-fund
npm run build
echo "setup: done. Try: npx spogw-native info"
