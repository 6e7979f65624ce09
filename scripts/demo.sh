#!/usr/bin/env bash
# The main job on the embedded default (SQLite, local folder, in-process workers):
# generate a small recorder dump, ingest it, process it end to end, show the results.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export CUSTOS_DATA_DIR=${CUSTOS_DATA_DIR:-./custos-data}
dump=${1:-./custos-data/sample-dump}
media=../shared/media  # real recordings beside the checkout, when present
[ -d "$media" ] && real=(--real-media "$media") || real=()
[ -d "$dump" ] || .venv/bin/custos sample-dump "$dump" "${real[@]}"
.venv/bin/custos ingest "$dump" --case DEMO-2026-001 --collector "demo officer" \
    --location "evidence room 1" --proves "demonstration" --device-kind body_cam
.venv/bin/custos jobs --wait
.venv/bin/custos ledger verify
.venv/bin/custos search "seizure" || true
