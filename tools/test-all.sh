#!/usr/bin/env bash
# The one test command (`npm test`), run by CI (.ci/run) after `npm ci`:
#   lint → type-check → unit/integration tests (vitest) → real esphome CLI + upstream Device Builder
#   (pinned Python venvs, tools/python-envs.mjs; NOT RUN with the reason where they cannot be set up) → build → browser e2e (Playwright on
#   Debian chromium against `kiln serve`) → offline packaging check → Electron e2e (only where an
#   Electron binary exists; it says plainly when it cannot run, and is never counted as passed).
set -euo pipefail
cd "$(dirname "$0")/.."
step() { printf '\n==> %s\n' "$*"; }
started=$SECONDS

chromium_bin="${CHROMIUM_BIN:-/usr/bin/chromium}"
if [ ! -x "$chromium_bin" ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    step "installing Debian chromium for the browser tests (never 'npx playwright install')"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null
  else
    echo "The browser tests need Debian's chromium: sudo apt-get install chromium (or set CHROMIUM_BIN)." >&2
    exit 1
  fi
fi

step "layering lint (nothing in main/core, main/headless, renderer reaches electron)"
npm run --silent lint
step "type-check (node + web)"
npm run --silent typecheck
step "unit and integration tests (vitest: real subprocesses, sockets, files)"
npx vitest run
step "real esphome CLI and upstream esphome-device-builder (pins: tools/python-pins.json; venvs reused from .venvs/)"
real_not_run=""
if node tools/python-envs.mjs; then
  npx vitest run -c test/real/vitest.config.ts
else
  real_not_run="real esphome/upstream tests: $(node -e "try{console.log(JSON.parse(require('fs').readFileSync(require('path').resolve(process.env.KILN_VENV_DIR||'.venvs','status.json'),'utf8')).reason)}catch{console.log('set-up did not run')}")"
  echo "NOT RUN (not counted as passed): $real_not_run"
fi
step "build (kiln CLI bundle + electron-vite: main, preload, renderer)"
node tools/build-node.mjs
npx electron-vite build --logLevel warn
step "browser end-to-end tests (Playwright, chromium, kiln serve + receiver + simulator)"
KILN_E2E_SKIP_BUILD=1 npx playwright test --project=web
step "packaging check (electron-builder --dir on a stub Electron, app.asar contents)"
node tools/pack-check.mjs
step "Electron end-to-end tests"
if node -e "import('./tools/electron-bin.mjs').then(m => process.exit(m.findElectron().bin ? 0 : 1))"; then
  xvfb-run -a npx playwright test --project=electron
else
  node -e "import('./tools/electron-bin.mjs').then(m => console.log('NOT RUN (not counted as passed): ' + m.findElectron().reason))"
fi
if [ -n "$real_not_run" ]; then
  printf '\ntest stages passed in %ss; NOT RUN (not counted as passed): %s\n' "$((SECONDS - started))" "$real_not_run"
else
  printf '\nall test stages passed in %ss\n' "$((SECONDS - started))"
fi
