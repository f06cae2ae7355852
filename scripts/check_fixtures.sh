#!/usr/bin/env bash
# Recomputes the Python reference values that the cross-check tests compare against
# (crates/cli/tests/fixtures/kalman_reference.json: pykalman's filter and smoother, checked
# against filterpy; crates/sysid/tests/fixtures/sysid_reference.json: nfoursid's N4SID and
# pykalman's EM) with the exact package versions of scripts/requirements.txt, in a virtual
# environment, and fails if any number differs from the committed fixture by more than 1e-9
# relative (TOLERANCE in scripts/fixtures.py; the tests' own tolerances are 1e-8 and looser).
# `cargo test` itself needs no Python: it reads the fixtures.
#
#   scripts/check_fixtures.sh            # compare (exit 1 on a difference); .ci/run runs this
#   scripts/check_fixtures.sh --update   # rewrite the references (review the diff)
#
# The environment is made in .venv (git-ignored; DYNREC_FIXTURES_VENV to put it elsewhere) and
# reused while scripts/requirements.txt is unchanged. Where python3 cannot make one (Debian and
# Ubuntu ship ensurepip in python3-venv), that package is installed with apt-get when running
# as root.
set -euo pipefail
cd "$(dirname "$0")/.."

mode="--check"
case "${1:-}" in
  "" | --check) ;;
  --update) mode="--update" ;;
  *) echo "usage: $0 [--check | --update]" >&2; exit 2 ;;
esac

python="${PYTHON:-python3}"
if ! "$python" -c 'import ensurepip, venv' 2>/dev/null; then
  if command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
    echo "+ apt-get install python3-venv (python3 has no ensurepip)"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null
  else
    echo "$python cannot make a virtual environment: install python3-venv" \
      "(sudo apt-get install python3-venv)" >&2
    exit 1
  fi
fi

venv="${DYNREC_FIXTURES_VENV:-.venv}"
stamp="$venv/dynrec-requirements.txt"
if [ ! -x "$venv/bin/python" ] || ! cmp -s scripts/requirements.txt "$stamp"; then
  echo "+ $python -m venv $venv && pip install -r scripts/requirements.txt"
  rm -rf "$venv"
  "$python" -m venv "$venv"
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
    -r scripts/requirements.txt
  cp scripts/requirements.txt "$stamp"
fi

echo "+ $venv/bin/python scripts/fixtures.py $mode"
"$venv/bin/python" scripts/fixtures.py "$mode"
