#!/usr/bin/env bash
# The benchmark of issue 6, in one command, on a fresh machine:
#   - system packages (bench/setup.sh: GNU time, python3-venv) when missing;
#   - bench/.venv with the pinned Python baselines (bench/requirements.txt);
#   - the release build of baocao and of the floor (examples/floor.rs);
#   - the synthetic corpora (baocao synth): national scale, 705 units x 12
#     months = 8,460 returns, mid scale, 100 x 12 = 1,200, and province
#     scale, 8 units x 12 months;
#   - besides ingest + report, `baocao check` (reading and every rule,
#     nothing stored) as the like-for-like row against the baselines;
#   - interleaved runs of floor, baocao (1 and 2 threads), polars + fastexcel
#     and pandas + openpyxl, after checking that their consolidated figures
#     agree (bench/compare.py);
#   - bench/RESULTS.md, written from the measurements.
#
# Usage: bash bench/run.sh [options]
#   --tiny               36 returns, one repetition, results in
#                        bench/work/RESULTS-tiny.md (checks the script and the
#                        agreement check, measures nothing worth reading)
#   --national-reps N    repetitions at national scale (default 3)
#   --slow-reps N        repetitions of pandas and polars at national scale
#                        (default: --national-reps)
#   --province-reps N    repetitions at province scale (default 5)
#   --mid-reps N         repetitions at the mid scale, 100 units x 12 months
#                        = 1,200 returns (default 3)
#   --no-national        skip the national scale
#   --no-mid             skip the mid scale
#   --no-province        skip the province scale
#   --threads LIST       thread counts for baocao and the floor (default 1,2)
#   --period P           the period to consolidate (default 2015)
#   --no-build           use the binaries already in target/release
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
bench="$root/bench"
work="$bench/work"

tiny=0
national=1
province=1
mid=1
mid_reps=3
national_reps=3
slow_reps=""
province_reps=5
threads="1,2"
period="2015"
build=1

usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; }

while (($#)); do
    case "$1" in
        --tiny) tiny=1 ;;
        --national-reps) national_reps="$2"; shift ;;
        --slow-reps) slow_reps="$2"; shift ;;
        --province-reps) province_reps="$2"; shift ;;
        --mid-reps) mid_reps="$2"; shift ;;
        --no-national) national=0 ;;
        --no-mid) mid=0 ;;
        --no-province) province=0 ;;
        --threads) threads="$2"; shift ;;
        --period) period="$2"; shift ;;
        --no-build) build=0 ;;
        -h|--help) usage; exit 0 ;;
        *) echo "bench/run.sh: unknown option $1" >&2; usage >&2; exit 2 ;;
    esac
    shift
done
slow_reps="${slow_reps:-$national_reps}"

say() { printf '\n== %s\n' "$*"; }

say "system packages"
bash "$bench/setup.sh"

say "Python environment (bench/.venv, pinned in bench/requirements.txt)"
venv="$bench/.venv"
stamp="$venv/.requirements.sha256"
wanted="$(sha256sum "$bench/requirements.txt" | cut -d' ' -f1)"
if [[ ! -x "$venv/bin/python" || ! -f "$stamp" || "$(cat "$stamp")" != "$wanted" ]]; then
    python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
        || { echo "bench/run.sh: Python >= 3.11 is needed (pandas 3)" >&2; exit 2; }
    rm -rf "$venv"
    python3 -m venv "$venv"
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$bench/requirements.txt"
    echo "$wanted" >"$stamp"
fi
python="$venv/bin/python"
"$python" -c 'import pandas, openpyxl, polars, fastexcel, xlsxwriter' \
    || { echo "bench/run.sh: the venv is broken; delete bench/.venv and run again" >&2; exit 2; }

if ((build)); then
    say "release build"
    (cd "$root" && cargo build --release --bin baocao --example floor)
fi
# Run copies, so that a rebuild in target/ during the benchmark (another
# cargo command on the same tree) cannot change the binary between rounds.
mkdir -p "$work/bin"
cp "$root/target/release/baocao" "$root/target/release/examples/floor" "$work/bin/"
baocao="$work/bin/baocao"
floor="$work/bin/floor"

say "corpora (baocao synth)"
mkdir -p "$work/corpus"
scales=()
# Earlier corpora are set aside in $trash and deleted once the runs are over:
# deleted before them, their inodes would slow the runs' file creations for
# six minutes (see INODE_AGE_S in bench.py). What an interrupted run left
# there is deleted now, and bench.py lets those inodes age before timing.
trash="$work/trash"
freed=0
if [[ -d "$trash" ]]; then
    freed=$(find "$trash" | wc -l)
    rm -rf "$trash"
fi
synth() { # NAME REPS SLOW_REPS SYNTH_ARGS...
    local name="$1" reps="$2" slow="$3"
    shift 3
    local dir="$work/corpus/$name"
    if [[ -d "$dir" ]]; then
        mkdir -p "$trash"
        mv "$dir" "$trash/$name-$$"
    fi
    "$baocao" synth --out "$dir" "$@"
    scales+=(--scale "$name:$dir:$reps:$slow:$*")
}
if ((tiny)); then
    synth tiny 1 1 --units 3 --months 12 --start "$period-01"
    results="$work/RESULTS-tiny.md"
else
    if ((national)); then
        synth national "$national_reps" "$slow_reps" --units 705 --months 12 --start "$period-01"
    fi
    if ((mid)); then
        synth mid "$mid_reps" "$mid_reps" --units 100 --months 12 --start "$period-01"
    fi
    if ((province)); then
        synth province "$province_reps" "$province_reps" --units 8 --months 12 --start "$period-01"
    fi
    results="$bench/RESULTS.md"
fi
if ((${#scales[@]} == 0)); then
    echo "bench/run.sh: no scale to run" >&2
    exit 2
fi

say "runs"
# bench.py imports formdef.py and the baselines from bench/.
cd "$bench"
"$python" "$bench/bench.py" \
    --root "$root" \
    --baocao "$baocao" \
    --floor "$floor" \
    --form "$root/templates/forms/01-pcmd-h.v1.toml" \
    --period "$period" \
    --work "$work" \
    --results "$results" \
    --threads "$threads" \
    --deleted-before "$freed" \
    "${scales[@]}"
rm -rf "$trash"
