#!/usr/bin/env bash
# System packages the benchmark needs, installed with apt only when missing:
# GNU time (/usr/bin/time -v, for peak memory) and Python's venv module.
set -euo pipefail

missing=()
[[ -x /usr/bin/time ]] || missing+=(time)
if ! command -v python3 >/dev/null 2>&1; then
    missing+=(python3 python3-venv)
elif ! python3 -c 'import ensurepip, venv' >/dev/null 2>&1; then
    missing+=(python3-venv)
fi

if ((${#missing[@]} == 0)); then
    exit 0
fi
echo "bench/setup.sh: installing ${missing[*]}"
if [[ $(id -u) -ne 0 ]]; then
    sudo=sudo
else
    sudo=
fi
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}"
