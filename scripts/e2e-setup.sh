#!/usr/bin/env bash
# Installs what the real-browser test (cmd/roomio/browser_test.go, ROOMIO_E2E=1) needs, and nothing when
# it is all there already (then it prints nothing and takes well under a second):
#   - Debian's Chromium at /usr/bin/chromium (apt; playwright-core never downloads a browser here), and
#   - e2e/node_modules from e2e/package-lock.json (npm ci), again whenever the lock file changes.
# Used by scripts/test.sh and CI; safe to run any number of times.
set -euo pipefail
cd "$(dirname "$0")/.."

as_root() {
	if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

apt_updated=
apt_install() {
	if [ -z "$apt_updated" ]; then
		echo "e2e-setup: apt-get update" >&2
		as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null
		apt_updated=1
	fi
	echo "e2e-setup: apt-get install $*" >&2
	as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

if [ ! -x /usr/bin/chromium ]; then
	apt_install chromium
fi
if ! command -v npm >/dev/null 2>&1; then
	apt_install nodejs npm
fi

# npm ci starts from a clean node_modules, so run it only when the installed tree does not match the
# committed lock file: the stamp holds the hash of package.json and package-lock.json it was installed from.
stamp=e2e/node_modules/.roomio-e2e-stamp
want=$(cat e2e/package.json e2e/package-lock.json | sha256sum | cut -d' ' -f1)
if [ ! -f e2e/node_modules/playwright-core/package.json ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
	echo "e2e-setup: npm ci in e2e/" >&2
	(cd e2e && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
	echo "$want" >"$stamp"
fi
