#!/usr/bin/env bash
# Installs what Custos needs on a fresh Debian machine: system packages (as root),
# a virtualenv in .venv with Custos and its test tools. Idempotent: a second run is quick.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
for tool in ffmpeg:ffmpeg espeak-ng:espeak-ng sox:sox chromium:chromium docker-compose:docker-compose; do
    command -v "${tool%%:*}" >/dev/null 2>&1 || need_apt+=("${tool##*:}")
done
# A CJK font, so Chromium draws the Chinese UI (and its screenshots) instead of boxes.
dpkg -s fonts-wqy-zenhei >/dev/null 2>&1 || need_apt+=(fonts-wqy-zenhei)
if ((${#need_apt[@]})); then
    if [ "$(id -u)" -ne 0 ]; then
        echo "missing system packages: ${need_apt[*]} (run as root, or: sudo apt-get install ${need_apt[*]})" >&2
        exit 1
    fi
    echo "installing system packages: ${need_apt[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

PY=${PYTHON:-python3.11}
command -v "$PY" >/dev/null 2>&1 || PY=python3
stamp=.venv/.custos-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
    [ -x .venv/bin/python ] || "$PY" -m venv .venv
    .venv/bin/python -m pip install -q --upgrade pip
    # torch 2.14.1 / torchvision 0.29.1 are pinned in pyproject.toml; on this kind of
    # machine pip takes them from the local disk rather than downloading them.
    .venv/bin/python -m pip install -q -e '.[test]'
    # MTCNN judges redacted output in the tests (a face detector of another family than
    # CenterFace; its weights ship in the wheel). Its metadata pins torch<2.3, which the
    # code does not need: installed without dependencies.
    .venv/bin/python -m pip install -q --no-deps 'facenet-pytorch==2.6.0'
    touch "$stamp"
fi
