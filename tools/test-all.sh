#!/usr/bin/env bash
# The one test command (`npm test`), run by CI (.ci/run) after `npm ci`:
#   lint → type-check → unit/integration tests (vitest) → real esphome CLI + upstream Device
#   Builder (pinned Python venvs, tools/python-envs.mjs; NOT RUN with the reason where they cannot
#   be set up) → build → browser e2e (Playwright on
#   Debian chromium against `kiln serve`) → offline packaging check → benchmark smoke → Electron
#   e2e (only where an Electron binary exists).
#
# Every stage ends in exactly one of three states, and the last line counts them:
#   passed   — it ran and its command exited 0;
#   failed   — it ran and failed (the run stops there; later stages are "not reached");
#   NOT RUN  — this machine cannot run it; the reason is printed and it is never counted as passed.
# The last line has the form CI and people read:
#   `test stages: 7 passed, 0 failed, 1 NOT RUN (Electron e2e NOT RUN: no Electron binary …)`
# so "N passed, 0 failed" only ever counts stages that really ran. The exit status is 0 only when
# nothing failed; a NOT RUN stage does not fail the run (the machine cannot do better) but it is
# named on the last line, not hidden above it.
#
# Adding a stage: write `run_stage "<name>" <command…>` for one that always runs, or guard it with
# a probe and call `not_run "<name>" "<reason>"` when the probe says this machine cannot run it.
set -uo pipefail
cd "$(dirname "$0")/.."
started=$SECONDS

passed=()
not_run=()

summary_line() {
  local failed_name="${1:-}" n_failed=0 line
  [ -n "$failed_name" ] && n_failed=1
  line="test stages: ${#passed[@]} passed, ${n_failed} failed, ${#not_run[@]} NOT RUN"
  if [ ${#not_run[@]} -gt 0 ]; then
    local joined
    joined=$(printf '%s; ' "${not_run[@]}")
    line="$line (${joined%; })"
  fi
  [ -n "$failed_name" ] && line="$line; FAILED: $failed_name (later stages not reached)"
  printf '\n%s in %ss\n' "$line" "$((SECONDS - started))"
}

run_stage() {
  local name="$1"
  shift
  printf '\n==> %s\n' "$name"
  if "$@"; then
    passed+=("$name")
  else
    local rc=$?
    printf '\n==> %s FAILED (exit %s)\n' "$name" "$rc"
    summary_line "$name"
    exit 1
  fi
}

not_run() {
  printf '\n==> %s\nNOT RUN (not counted as passed): %s\n' "$1" "$2"
  not_run+=("$1 NOT RUN: $2")
}

ensure_chromium() {
  local chromium_bin="${CHROMIUM_BIN:-/usr/bin/chromium}"
  [ -x "$chromium_bin" ] && return 0
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing Debian chromium for the browser tests (never 'npx playwright install')"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq &&
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null
  else
    echo "The browser tests need Debian's chromium: sudo apt-get install chromium (or set CHROMIUM_BIN)." >&2
    return 1
  fi
}

# The real ESPHome release from PyPI through Kiln's own toolchain installer (a few minutes, the
# toolchain is cached between runs): on by default. KILN_SKIP_REAL_PYPI=1 opts out, and then the
# last line says those tests did NOT RUN instead of letting them pass as silent skips.
if [ "${KILN_SKIP_REAL_PYPI:-}" = 1 ]; then
  not_run "real ESPHome release from PyPI (toolchain install test, first-run browser test)" "KILN_SKIP_REAL_PYPI=1 was set"
else
  export KILN_TEST_REAL_PYPI=1 KILN_E2E_REAL_PYPI=1
fi

build_all() { node tools/build-node.mjs && npx electron-vite build --logLevel warn; }

# Setup, not a test stage (not counted): the browser tests need a browser.
ensure_chromium || { summary_line "setup: Debian chromium for the browser tests"; exit 1; }
run_stage "lint (ESLint type-checked + react-hooks; layers: nothing in main/core, main/headless, renderer reaches electron)" npm run --silent lint
run_stage "type-check (node + web)" npm run --silent typecheck
run_stage "unit and integration tests (vitest: real subprocesses, sockets, files)" npx vitest run
# The real programs: esphome and upstream's esphome-device-builder in pinned venvs (tools/python-pins.json).
if node tools/python-envs.mjs; then
  run_stage "real esphome CLI and upstream esphome-device-builder (tools/python-pins.json)" npx vitest run -c test/real/vitest.config.ts
else
  real_reason=$(node -e "try{console.log(JSON.parse(require('fs').readFileSync(require('path').resolve(process.env.KILN_VENV_DIR||'.venvs','status.json'),'utf8')).reason)}catch{console.log('set-up did not run')}")
  not_run "real esphome CLI and upstream esphome-device-builder" "$real_reason"
fi
run_stage "build (kiln CLI bundle + electron-vite: main, preload, renderer)" build_all
run_stage "browser end-to-end tests (Playwright, chromium, kiln serve + build server + simulator)" \
  env KILN_E2E_SKIP_BUILD=1 npx playwright test --project=web
run_stage "packaging check (electron-builder --dir on a stub Electron, app.asar contents)" node tools/pack-check.mjs
# A smoke: every benchmark must run to the end quickly; targets are printed, not enforced here.
run_stage "benchmark smoke (npm run bench -- --quick; targets reported, not enforced)" \
  node --import tsx bench/run.ts --quick

electron_reason=$(node -e "import('./tools/electron-bin.mjs').then(m => { const f = m.findElectron(); console.log(f.bin ? '' : f.reason); })")
if [ -z "$electron_reason" ]; then
  run_stage "Electron e2e" xvfb-run -a npx playwright test --project=electron
else
  not_run "Electron e2e" "no Electron binary ($electron_reason)"
fi

summary_line
