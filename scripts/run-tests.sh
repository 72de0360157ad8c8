#!/usr/bin/env bash
# Runs the whole test suite with Node's built-in runner through tsx.
# The files are listed explicitly: on Node 20, `tsx --test tests/` or a quoted glob finds no .ts
# file and "passes" with zero tests. Pass file names as arguments to run only those.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$#" -gt 0 ]; then
  files=("$@")
else
  mapfile -t files < <(find tests -name '*.test.ts' | sort)
fi
if [ "${#files[@]}" -eq 0 ]; then
  echo "run-tests: no test files found under tests/" >&2
  exit 1
fi
if [ -z "${S3_ENDPOINT:-}" ]; then
  if [ "${CI:-}" = "true" ]; then
    echo "run-tests: CI=true but S3_ENDPOINT is not set: the S3 suite cannot run. .ci/run starts the S3 test server." >&2
    exit 1
  fi
  cat >&2 <<'MSG'
################################################################################
# S3 SUITE SKIPPED: S3_ENDPOINT is not set, so S3Store is not tested in this run.
# To enable it: bash scripts/s3-test-server.sh install && eval "$(bash scripts/s3-test-server.sh start)"
# then run npm test again (or run .ci/run, which does all of this).
################################################################################
MSG
fi
exec node --import tsx --test --test-reporter=spec --test-concurrency="${TEST_CONCURRENCY:-2}" "${files[@]}"
