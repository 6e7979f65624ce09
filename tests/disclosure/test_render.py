"""Redaction end to end on real footage: plan from detection, one-pass render, exposure check.

The redacted output is judged by a detector of another family than the one that made the
plan: MTCNN (facenet-pytorch, its P/R/O-Net weights ship inside the wheel), not
CenterFace. Every frame where it sees a face in the original must show none in the output.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pytest

from disclosure.plan import FullFrame, Mute, Plan, Region
from disclosure.render import audio_mux_args, frame_regions
from disclosure.renders import acknowledge, change_plan, refresh_plan, render_recording
from models.vision.detect_stage import DetectParams, run_detect
from models.vision.video import decode_frames
from storage.services import Services
from tests.models.detect_fixtures import ingest_file, media, model_cache

pytestmark = pytest.mark.media


def _judge_faces(path: Path) -> list[int]:
    """Faces MTCNN finds per frame (probability 0.9 or more)."""
    from facenet_pytorch import MTCNN

    judge = MTCNN(keep_all=True, device="cpu")
    counts = []
    for frame in decode_frames(path):
        _, probs = judge.detect(frame.rgb())
        counts.append(0 if probs is None else int(sum(p is not None and p >= 0.9 for p in probs)))
    return counts


def _probe(path: Path) -> dict[str, object]:
    args = ["ffprobe", "-v", "error", "-count_packets", "-show_streams", "-of", "json", str(path)]
    out = subprocess.run(args, capture_output=True, text=True, check=True)
    data: dict[str, object] = json.loads(out.stdout)
    return data


@pytest.fixture
def svc(make_services: object, tmp_path_factory: pytest.TempPathFactory) -> Services:
    cache = model_cache(tmp_path_factory)
    return make_services(whisper_cache_dir=cache)  # type: ignore[operator,no-any-return]


def _rendered(svc: Services, rec: str) -> Path:
    with svc.db.session() as session:
        from disclosure.renders import latest_render

        done = latest_render(session, rec)
        assert done is not None
    out = Path(svc.settings.data_dir) / f"render-{rec}.mp4"
    out.write_bytes(svc.store.get_bytes(done.object_key))
    return out


def test_talking_face_redacted_and_checked(svc: Services) -> None:
    src = media("av", "grid_bbaf2n.mpg")
    rec = ingest_file(svc, src)
    run_detect(svc, rec, DetectParams(), lambda _: None)
    version = refresh_plan(svc, rec, author="officer")
    assert version.version == 1 and version.plan.tracks
    assert all(t.redact for t in version.plan.tracks if t.category == "face")

    summary = render_recording(svc, rec, actor="officer")
    assert summary.open_findings == [], summary.findings
    out = _rendered(svc, rec)
    original = _probe(src)["streams"]
    rendered = _probe(out)["streams"]
    assert isinstance(original, list) and isinstance(rendered, list)
    src_video = next(s for s in original if s["codec_type"] == "video")
    out_video = next(s for s in rendered if s["codec_type"] == "video")
    assert int(out_video["nb_read_packets"]) == summary.frames
    assert abs(float(out_video["duration"]) - float(src_video["duration"])) <= 1 / 25 + 1e-3
    assert [s["codec_type"] for s in rendered].count("audio") == 1

    before, after = _judge_faces(src), _judge_faces(out)
    assert len(before) == len(after)
    seen = [i for i, n in enumerate(before) if n]
    assert len(seen) > 0.5 * len(before), "the independent detector sees the face in the original"
    assert [i for i in seen if after[i]] == [], "a face is still visible to MTCNN"

    again = render_recording(svc, rec, actor="officer")
    assert again.reused and again.render_id == summary.render_id
    actions = [e.action for e in svc.ledger.events(rec)]
    assert "redaction.plan" in actions and actions.count("redaction.rendered") == 1


def test_a_face_kept_visible_is_found_and_must_be_acknowledged(svc: Services) -> None:
    rec = ingest_file(svc, media("av", "grid_lwbsza.mpg"))
    run_detect(svc, rec, DetectParams(), lambda _: None)
    refresh_plan(svc, rec, author="officer")

    def keep_faces(plan: Plan) -> None:
        for track in plan.tracks:
            track.redact = False

    change_plan(svc, rec, keep_faces, author="officer", reason="the officer may be shown")
    summary = render_recording(svc, rec, actor="officer")
    assert summary.open_findings, "the exposure check did not see the face left visible"
    finding = summary.open_findings[0]
    assert finding.category == "face" and finding.frames > 10 and finding.thumbnail_key
    assert svc.store.exists(finding.thumbnail_key)
    with pytest.raises(Exception, match="reason"):
        acknowledge(svc, rec, finding.id, actor="officer", reason=" ")
    done = acknowledge(svc, rec, finding.id, actor="officer", reason="consented")
    assert done.state == "acknowledged"
    events = [e for e in svc.ledger.events(rec) if e.action == "redaction.finding_acknowledged"]
    assert len(events) == 1


def test_regions_interpolate_and_full_frame_spans_cover_everything() -> None:
    region = Region(id="r1", start=1.0, end=3.0, keyframes=[[1.0, 0, 0, 10, 10],
                                                            [3.0, 20, 20, 30, 30]])  # fmt: skip
    assert region.box_at(2.0) == (10.0, 10.0, 20.0, 20.0)
    assert region.box_at(0.5) is None and region.box_at(3.5) is None
    plan = Plan(recording_id="r", regions=[region], full_frame=[FullFrame(start=5.0, end=6.0)])
    assert frame_regions(plan, {}, 0, 2.0, (64, 48), None) == {
        ("blur", False): [(10.0, 10.0, 20.0, 20.0)]
    }
    assert frame_regions(plan, {}, 0, 5.5, (64, 48), None) == {("solid", False): [(0, 0, 64, 48)]}


def test_audio_arguments_mute_only_the_planned_stream_and_strip_metadata(tmp_path: Path) -> None:
    args = audio_mux_args(tmp_path / "v.mp4", tmp_path / "src.mkv", tmp_path / "out.mp4", [1, 2],
                          [Mute(stream_index=2, start=1.5, end=2.25)], strip_metadata=True,
                          bitrate="128k")  # fmt: skip
    graph = args[args.index("-filter_complex") + 1]
    assert graph == "[1:1]anull[a0];[1:2]volume=volume=0:enable='between(t,1.500,2.250)'[a1]"
    assert args[args.index("-map_metadata") + 1] == "-1"
    assert "-protocol_whitelist" in args and "http" not in " ".join(args)


def test_a_muted_span_is_silent_and_the_speech_around_it_intact(
    svc: Services, tmp_path: Path
) -> None:
    wav = tmp_path / "speech.wav"
    words = "call me on zero seven seven double nine one two three and thank you for coming"
    subprocess.run(["espeak-ng", "-w", str(wav), words], check=True)
    clip = tmp_path / "interview.mp4"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i",
                    "testsrc2=s=320x240:r=10:d=6", "-i", str(wav), "-shortest", "-c:v",
                    "libx264", "-c:a", "aac", "-ar", "16000", str(clip)], check=True)  # fmt: skip
    rec = ingest_file(svc, clip)
    refresh_plan(svc, rec, author="officer")

    def mute(plan: Plan) -> None:
        plan.mutes.append(Mute(stream_index=1, start=1.0, end=2.0, kind="mobile"))

    change_plan(svc, rec, mute, author="officer", reason="a phone number is spoken")
    render_recording(svc, rec, actor="officer")
    out = _rendered(svc, rec)
    pcm = subprocess.run(["ffmpeg", "-v", "error", "-i", str(out), "-map", "0:a:0", "-ac", "1",
                          "-ar", "16000", "-f", "f32le", "-"], capture_output=True,
                         check=True).stdout  # fmt: skip
    audio = np.frombuffer(pcm, dtype="<f4")

    def rms(a: float, b: float) -> float:
        return float(np.sqrt(np.mean(audio[int(a * 16000) : int(b * 16000)] ** 2)))

    assert rms(1.1, 1.9) < 1e-3
    assert rms(0.2, 0.9) > 1e-2 and rms(2.1, 3.0) > 1e-2


def test_a_bleeped_span_carries_only_the_tone() -> None:
    from disclosure.render import BLEEP_HZ, _volume_filter

    graph = _volume_filter([Mute(stream_index=0, start=1.0, end=2.0, mode="bleep")])
    pcm = subprocess.run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i",
                          "sine=f=300:d=3:sample_rate=16000", "-af", graph, "-f", "f32le", "-"],
                         capture_output=True, check=True).stdout  # fmt: skip
    audio = np.frombuffer(pcm, dtype="<f4")

    def share(a: float, b: float, hz: float) -> float:
        part = audio[int(a * 16000) : int(b * 16000)]
        spectrum = np.abs(np.fft.rfft(part))
        freqs = np.fft.rfftfreq(part.shape[0], 1 / 16000)
        return float(spectrum[np.abs(freqs - hz) < 20].sum() / spectrum.sum())

    assert share(1.2, 1.8, BLEEP_HZ) > 0.9 and share(1.2, 1.8, 300) < 0.01
    assert share(0.1, 0.8, 300) > 0.9 and share(2.2, 2.9, 300) > 0.9


def test_frames_in_flight_give_the_findings_of_one_frame_at_a_time(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """The check runs frames side by side (one core each); what it finds must not change."""
    from disclosure.exposure_check import check_exposure
    from models.vision.detect.centerface import CenterFace

    src = media("av", "grid_bbaf2n.mpg")  # unredacted: the face is a finding on every frame
    cache = model_cache(tmp_path_factory)
    serial = CenterFace(cache, threshold=0.08)
    parallel = CenterFace(cache, threshold=0.08, frame_parallel=True)
    assert serial.concurrent_runs == 1
    one = check_exposure(src, serial)
    many = check_exposure(src, parallel)
    assert one.frames_checked == many.frames_checked > 0
    assert one.findings, "the visible face was not found"
    keys = [(f.first_frame, f.last_frame, f.frames, f.box, f.score) for f in one.findings]
    assert keys == [(f.first_frame, f.last_frame, f.frames, f.box, f.score) for f in many.findings]
    assert all(f.thumbnail_jpeg for f in many.findings)
