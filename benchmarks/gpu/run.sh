#!/usr/bin/env bash
# The GPU path in one go, sized for 8 minutes on a fresh GPU machine without a network.
#
#   bash benchmarks/gpu/run.sh [--wheels DIR] [--out FILE] [--dry-run]
#       [--whisper-model base] [--whisper-model /models/large-v3 ...]
#       [--yolo-weights FILE.pt] [--minutes 10] [--limit-s 480] [-- more bench.py options]
#
# --wheels DIR: make a virtualenv and install Custos and its dependencies from the wheels in
#   DIR only (pip --no-index); onnxruntime-gpu, when DIR has it, replaces onnxruntime. A
#   static ffmpeg build (ffmpeg-*-static.tar.xz, with ffprobe) in DIR is unpacked when the
#   machine has no ffmpeg. Which wheels to carry: benchmarks/gpu/README.md.
# Without --wheels: the checkout's .venv (or $PYTHON).
# Without a CUDA device, or with --dry-run, the same measurements run on CPU on tiny
# inputs and the JSON says "device": "cpu", "dry_run": true (CI runs this).
set -euo pipefail
cd "$(dirname "$0")/../.."
started=$SECONDS

wheels="" out="benchmarks/out/gpu.json" venv="" limit=480 minutes=10 dry=()
bench=()
while (($#)); do
    case "$1" in
        --wheels) wheels=$2; shift 2 ;;
        --out) out=$2; shift 2 ;;
        --venv) venv=$2; shift 2 ;;
        --limit-s) limit=$2; shift 2 ;;
        --minutes) minutes=$2; shift 2 ;;
        --dry-run) dry=(--dry-run); shift ;;
        --whisper-model|--yolo-weights|--device|--seconds|--clip-seconds|--frames|--repeat|--skip)
            bench+=("$1" "$2"); shift 2 ;;
        --) shift; bench+=("$@"); break ;;
        -h|--help) sed -n '2,15p' "$0"; exit 0 ;;
        *) echo "run.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
    esac
done

say() { echo "[gpu run.sh $((SECONDS - started))s] $*" >&2; }

if [ -n "$wheels" ]; then
    [ -d "$wheels" ] || { echo "run.sh: --wheels $wheels is not a folder" >&2; exit 2; }
    venv=${venv:-${TMPDIR:-/tmp}/custos-gpu-venv}
    py=${PYTHON:-python3.11}
    command -v "$py" >/dev/null 2>&1 || py=python3
    say "virtualenv $venv from $wheels (no index)"
    [ -x "$venv/bin/python" ] || "$py" -m venv "$venv"
    pip=("$venv/bin/python" -m pip install -q --no-index --find-links "$wheels")
    if compgen -G "$wheels/custos-*.whl" >/dev/null; then
        "${pip[@]}" custos
    else  # the checkout itself: no build isolation (no network), so the build tools come
        # from the wheels too (a venv's own setuptools may lack bdist_wheel)
        "${pip[@]}" --upgrade setuptools wheel
        "${pip[@]}" --no-build-isolation .
    fi
    if compgen -G "$wheels/onnxruntime_gpu-*.whl" >/dev/null; then
        # Both install the module `onnxruntime`; only one may be there.
        "$venv/bin/python" -m pip uninstall -q -y onnxruntime
        "${pip[@]}" --no-deps --force-reinstall onnxruntime-gpu
    fi
    python=$venv/bin/python
    say "installed"
else
    python=${PYTHON:-.venv/bin/python}
    [ -x "$python" ] || python=python3
fi

# CUDA libraries that come as wheels (nvidia-cublas-cu12, nvidia-cudnn-cu12 ...): CTranslate2
# and ONNX Runtime look for them on the library path, torch finds its own.
nvidia_libs=$("$python" - <<'EOF'
import glob, os, site
dirs = []
for base in site.getsitepackages():
    dirs += sorted(glob.glob(os.path.join(base, "nvidia", "*", "lib")))
print(":".join(dirs))
EOF
)
if [ -n "$nvidia_libs" ]; then
    export LD_LIBRARY_PATH="$nvidia_libs${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
fi

# ffmpeg and ffprobe (normalise probes with ffprobe): the machine's, else a static build
# from the wheels folder, else imageio-ffmpeg's ffmpeg (no ffprobe: the encode section fails).
if ! command -v ffmpeg >/dev/null 2>&1 || ! command -v ffprobe >/dev/null 2>&1; then
    bin=${venv:-${TMPDIR:-/tmp}/custos-gpu-tools}/ffmpeg-bin
    mkdir -p "$bin"
    static=$(compgen -G "${wheels:-/nonexistent}/ffmpeg-*static*.tar.xz" | head -n1 || true)
    if [ -n "$static" ]; then
        tar -xJf "$static" -C "$bin" --strip-components=1 --wildcards '*/ffmpeg' '*/ffprobe'
    elif exe=$("$python" -c 'import imageio_ffmpeg as i; print(i.get_ffmpeg_exe())' 2>/dev/null); then
        ln -sf "$exe" "$bin/ffmpeg"
        say "no ffprobe on this machine: the encode section will fail"
    fi
    export PATH="$bin:$PATH"
fi

if command -v nvidia-smi >/dev/null 2>&1; then
    nvidia-smi -L >&2 || true
else
    say "no nvidia-smi: CPU dry run"
fi

left=$((limit - (SECONDS - started) - 10))
if ((left < 60)); then
    echo "run.sh: only ${left}s of the ${limit}s limit left after installing" >&2
    exit 3
fi
say "bench.py with a budget of ${left}s"
mkdir -p "$(dirname "$out")"
# The budget lets bench.py skip what would not fit; timeout is the backstop.
rc=0
timeout --kill-after=10 "$((left + 5))" "$python" benchmarks/gpu/bench.py \
    --out "$out" --minutes "$minutes" --budget-s "$((left - 5))" "${dry[@]}" "${bench[@]}" || rc=$?
say "done (exit $rc): $out"
exit "$rc"
