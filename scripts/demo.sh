#!/usr/bin/env bash
# The main job on the embedded default (SQLite, local folder, in-process workers):
# generate a small recorder dump, ingest it, process it end to end, show the results,
# then serve the web UI on it with a login for each role (--no-serve: stop before that).
#   bash scripts/demo.sh [--no-serve] [DUMP]
set -euo pipefail
cd "$(dirname "$0")/.."
serve=1
args=()
for arg in "$@"; do
    case "$arg" in
        --no-serve) serve=0 ;;
        *) args+=("$arg") ;;
    esac
done
bash scripts/setup.sh
export CUSTOS_DATA_DIR=${CUSTOS_DATA_DIR:-./custos-data}
dump=${args[0]:-./custos-data/sample-dump}
media=../shared/media  # real recordings beside the checkout, when present
[ -d "$media" ] && real=(--real-media "$media") || real=()
[ -d "$dump" ] || .venv/bin/custos sample-dump "$dump" "${real[@]}"
.venv/bin/custos ingest "$dump" --case DEMO-2026-001 --collector "demo officer" \
    --location "evidence room 1" --proves "demonstration" --device-kind body_cam
.venv/bin/custos jobs --wait
.venv/bin/custos ledger verify
.venv/bin/custos search "seizure" || true
# Disclosure: the interview recording (a real face), redacted, packed, verified offline.
receipt=$(ls -t "$CUSTOS_DATA_DIR"/receipts/*.json | head -1)
rec=$(.venv/bin/python -c 'import json, sys
entries = json.load(open(sys.argv[1]))["files"]
videos = [e for e in entries
          if e.get("status") == "stored" and e.get("media_kind") == "video" and e.get("recording_id")]
videos.sort(key=lambda e: "interview" not in e["path"])  # the talking face first
print(videos[0]["recording_id"] if videos else "")' "$receipt")
if [ -n "$rec" ]; then
    package="$CUSTOS_DATA_DIR/exports/demo-$rec.zip"
    mkdir -p "$(dirname "$package")"
    .venv/bin/custos redact "$rec"
    .venv/bin/custos render "$rec"
    if .venv/bin/custos export "$rec" --purpose public --recipient "demo" --out "$package"; then
        .venv/bin/custos verify "$package"
    elif [ ${#real[@]} -eq 0 ]; then
        # Without ../shared/media the clips are generated test patterns (no person in them):
        # what the check flags there are patterns, so the demo acknowledges them, saying so.
        # On real footage an officer reviews each finding; the demo never does that for them.
        findings=$(.venv/bin/custos render "$rec" --json | .venv/bin/python -c 'import json, sys
print(" ".join(str(f["id"]) for f in json.load(sys.stdin)["findings"] if f["state"] == "open"))')
        for finding in $findings; do
            .venv/bin/custos acknowledge "$rec" "$finding" \
                --reason "demo: generated test pattern, no person in it (acknowledged by scripts/demo.sh)"
        done
        .venv/bin/custos export "$rec" --purpose public --recipient "demo" --out "$package"
        .venv/bin/custos verify "$package"
    else
        echo "export refused: review the findings above (custos acknowledge REC FINDING --reason ...)"
    fi
fi

[ "$serve" = 1 ] || exit 0
# The web UI on what was just processed: one login per role, with generated passwords,
# kept (readable only by you) in $CUSTOS_DATA_DIR/demo-logins.txt for later runs.
logins="$CUSTOS_DATA_DIR/demo-logins.txt"
touch "$logins" && chmod 600 "$logins"
for role in technician case_officer reviewer disclosure_officer auditor admin; do
    name="demo-${role//_/-}"
    grep -q "^$name " "$logins" && continue
    password=$(.venv/bin/python -c 'import secrets; print(secrets.token_urlsafe(12))')
    printf '%s\n' "$password" | .venv/bin/custos user add "$name" --role "$role" --password-stdin
    case "$role" in auditor|admin) ;; *) .venv/bin/custos user grant "$name" --case DEMO-2026-001 ;; esac
    printf '%s %s %s\n' "$name" "$role" "$password" >> "$logins"
done
host=${DEMO_HOST:-127.0.0.1}
port=${DEMO_PORT:-8000}
echo
echo "Custos is serving the demo at http://$host:$port/  (Ctrl-C to stop)"
echo "logins (user, role, password), also in $logins:"
sed 's/^/  /' "$logins"
exec .venv/bin/custos serve --host "$host" --port "$port"
