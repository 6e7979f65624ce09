"""Decoding audio streams with PyAV: same samples as faster-whisper, bounded chunks,
damaged and late-starting audio kept on the original timeline, streams listed."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from faster_whisper import decode_audio as fw_decode_audio

from models.speech.audio import (
    SAMPLE_RATE,
    AudioError,
    DecodeStats,
    decode_audio,
    decode_audio_chunks,
    list_audio_streams,
)
from tests.models.speech_fixtures import (
    ffmpeg,
    make_two_stream_file,
    make_video_only,
    speech,
)


def test_samples_match_faster_whisper_decoder() -> None:
    path = speech("en/jfk.flac")
    stats = DecodeStats()
    ours = np.concatenate(list(decode_audio_chunks(path, 0, stats=stats)))
    assert np.array_equal(ours, fw_decode_audio(str(path)))
    assert stats.samples == ours.shape[0] == 11 * SAMPLE_RATE
    assert len(stats.sha256) == 64 and stats.corrupt_packets == 0 and stats.filled_s == 0.0


def test_chunks_are_bounded() -> None:
    path = speech("en/jfk.flac")
    sizes = [c.shape[0] for c in decode_audio_chunks(path, 0, chunk_s=2.0)]
    assert len(sizes) >= 5
    # about a second of source audio is resampled at once, so a chunk overshoots by < 1.1 s
    assert max(sizes) < 3.1 * SAMPLE_RATE
    assert sum(sizes) == 11 * SAMPLE_RATE


def test_damaged_packets_are_skipped_not_fatal(tmp_path: Path) -> None:
    clean = tmp_path / "jfk.aac"
    ffmpeg("-i", str(speech("en/jfk.flac")), "-c:a", "aac", "-b:a", "64k", str(clean))
    data = bytearray(clean.read_bytes())
    rng = np.random.default_rng(7)
    for start in (len(data) // 3, len(data) // 2, 2 * len(data) // 3):
        data[start : start + 400] = rng.integers(0, 256, 400, dtype=np.uint8).tobytes()
    damaged = tmp_path / "damaged.aac"
    damaged.write_bytes(bytes(data))

    stats = DecodeStats()
    audio = np.concatenate(list(decode_audio_chunks(damaged, 0, stats=stats)))

    assert stats.corrupt_packets >= 1
    # faster-whisper's own decoder stops at the first bad frame (about 3.7 s of 11 s here);
    # this one goes on to the end.
    assert audio.shape[0] / SAMPLE_RATE > 0.9 * 11.0
    assert stats.sha256 and not stats.truncated


def test_late_starting_audio_keeps_container_time(tmp_path: Path) -> None:
    path = tmp_path / "late.mkv"
    ffmpeg(
        "-f", "lavfi", "-i", "testsrc2=s=160x120:r=10:d=6",
        "-itsoffset", "1.5", "-i", str(speech("en/librispeech-1995-1837-0001.wav")),
        "-map", "0:v", "-map", "1:a", "-c:v", "libx264", "-preset", "ultrafast",
        "-c:a", "flac", str(path),
    )  # fmt: skip
    stats = DecodeStats()
    audio = np.concatenate(list(decode_audio_chunks(path, 1, stats=stats)))
    assert stats.filled_s == pytest.approx(1.5, abs=0.05)
    lead = int(1.4 * SAMPLE_RATE)
    assert np.abs(audio[:lead]).max() == 0.0
    assert audio.shape[0] / SAMPLE_RATE == pytest.approx(1.5 + 8.73, abs=0.1)


def test_lists_every_audio_stream_with_labels(tmp_path: Path) -> None:
    path = make_two_stream_file(tmp_path / "room.mkv", speech("en/stereo_diarization.wav"))
    streams = list_audio_streams(path)
    assert [s.index for s in streams] == [1, 2]
    assert [s.ordinal for s in streams] == [0, 1]
    assert [s.title for s in streams] == ["officer", "subject"]
    assert streams[0].label == "audio 1, stream #1 (eng, officer)"
    assert all(s.channels == 1 and s.duration_s for s in streams)
    left = decode_audio(path, 1)
    right = decode_audio(path, 2)
    assert left.shape == right.shape and not np.array_equal(left, right)


def test_no_audio_and_not_media(tmp_path: Path) -> None:
    assert list_audio_streams(make_video_only(tmp_path / "silent.mp4")) == []
    junk = tmp_path / "notes.wav"
    junk.write_bytes(b"this is not audio at all" * 100)
    with pytest.raises(AudioError):
        list_audio_streams(junk)
    with pytest.raises(AudioError, match="not audio"):
        list(decode_audio_chunks(make_video_only(tmp_path / "v.mp4"), 0))
