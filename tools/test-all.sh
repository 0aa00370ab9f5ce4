#!/usr/bin/env bash
# The one test command (`npm test`): lint, type-check, unit/integration tests, then the builds and
# browser/packaging checks as they exist. CI (.ci/run) runs exactly this after installing.
set -euo pipefail
cd "$(dirname "$0")/.."
step() { printf '\n==> %s\n' "$*"; }

step "layering lint"; npm run --silent lint
step "type-check"; npm run --silent typecheck
step "unit and integration tests (vitest)"; npx vitest run
