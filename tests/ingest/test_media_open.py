"""The hardened PyAV opener: only local recordings open; playlists, lists, absurd headers do not."""

from __future__ import annotations

import subprocess
from pathlib import Path

import av
import av.error
import pytest

from ingest.media_open import MediaRefused, open_media
from models.speech.audio import AudioError, decode_audio, list_audio_streams
from models.vision.detect.errors import VideoError
from models.vision.video import probe_video

_QUIET = ["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-y"]


def _ffmpeg(*args: str) -> None:
    subprocess.run([*_QUIET, *args], check=True, timeout=120)


@pytest.fixture
def segment(tmp_path: Path) -> Path:
    """A real, playable MPEG-TS segment a playlist could point at."""
    path = tmp_path / "seg0.ts"
    _ffmpeg("-f", "lavfi", "-i", "testsrc2=s=160x120:r=10:d=1", "-f", "lavfi", "-i",
            "sine=d=1", "-c:v", "libx264", "-c:a", "aac", "-shortest", str(path))  # fmt: skip
    return path


def _refused(path: Path) -> None:
    with pytest.raises((MediaRefused, av.error.FFmpegError)):
        open_media(path).close()


def test_a_recording_opens(segment: Path) -> None:
    with open_media(segment) as container:
        assert container.format.name == "mpegts"
        assert container.streams.video and container.streams.audio


@pytest.mark.parametrize("target", ["file", "http"])
def test_hls_playlists_are_never_followed(tmp_path: Path, segment: Path, target: str) -> None:
    where = segment.as_uri() if target == "file" else "http://127.0.0.1:9/seg0.ts"
    playlist = tmp_path / "clip.mp4"
    playlist.write_text(f"#EXTM3U\n#EXT-X-TARGETDURATION:1\n#EXTINF:1,\n{where}\n#EXT-X-ENDLIST\n")
    _refused(playlist)
    with pytest.raises(AudioError):
        list_audio_streams(playlist)
    # Relative names a playlist could use, next to a real segment, are not followed either.
    playlist.write_text("#EXTM3U\n#EXT-X-TARGETDURATION:1\n#EXTINF:1,\nseg0.ts\n#EXT-X-ENDLIST\n")
    _refused(playlist)


def test_concat_lists_and_passwd_are_refused(tmp_path: Path, segment: Path) -> None:
    listing = tmp_path / "list.mp4"
    listing.write_text(f"ffconcat version 1.0\nfile '{segment}'\nfile '/etc/passwd'\n")
    _refused(listing)
    with pytest.raises(VideoError):
        probe_video(listing)


def test_absurd_dimensions_are_refused_before_decoding(tmp_path: Path) -> None:
    wide = tmp_path / "wide.mkv"
    _ffmpeg("-f", "lavfi", "-i", "color=s=17000x16:r=1:d=1", "-c:v", "ffv1", str(wide))
    with pytest.raises(MediaRefused, match="17000x16"):
        open_media(wide)
    with pytest.raises(VideoError, match="17000x16"):
        probe_video(wide)


def test_random_bytes_and_html_are_not_media(tmp_path: Path) -> None:
    noise = tmp_path / "noise.mp4"
    noise.write_bytes(bytes(range(256)) * 64)
    html = tmp_path / "page.mp4"
    html.write_text("<!doctype html><html><body>not a video</body></html>")
    for path in (noise, html):
        _refused(path)
        with pytest.raises(AudioError):
            decode_audio(path, 0)
