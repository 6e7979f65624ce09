"""Generated sources and Recording rows for the normalise tests and benchmark.

Sources come from ffmpeg's own test patterns (testsrc2 + sine), so they are small,
real, and made fresh for each run.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import subprocess
import time
from pathlib import Path
from typing import Any

from storage.services import Services
from tests import factories

_QUIET = ["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-y"]


def _lavfi_av(seconds: float, size: str, rate: str, audio: bool) -> list[str]:
    args = ["-f", "lavfi", "-i", f"testsrc2=s={size}:r={rate}:d={seconds}"]
    if audio:
        args += ["-f", "lavfi", "-i", f"sine=f=440:b=4:sample_rate=48000:d={seconds}"]
    return args


def make_source(
    path: Path,
    kind: str,
    *,
    seconds: float = 3.0,
    size: str = "320x240",
    rate: str = "25",
) -> Path:
    """Write one generated source of `kind` to `path` and return it.

    kinds: h264_aac (browser-ready MP4), mpeg2 (MPEG-2 + MP2 in MPEG-PS), mjpeg (MJPEG +
    PCM in AVI), rotated (H.264/AAC tagged rotate=90, as phones write), vfr (H.264 4:2:2 in
    Matroska with a one-second hole in its timestamps), audio (AAC in M4A), video_only (H.264, no
    audio), h264_pcm (H.264 + PCM in MOV: video copied, audio encoded), garbage.
    """
    if kind == "garbage":
        path.write_bytes(b"\x00\x00\x01\xba" + bytes(range(256)) * 64)
        return path
    x264 = ["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p"]
    aac = ["-c:a", "aac", "-b:a", "96k"]
    if kind == "h264_aac":
        args = [*_lavfi_av(seconds, size, rate, True), *x264, *aac, "-f", "mp4"]
    elif kind == "mpeg2":
        args = [*_lavfi_av(seconds, size, rate, True), "-c:v", "mpeg2video", "-q:v", "4"]
        args += ["-c:a", "mp2", "-f", "mpeg"]
    elif kind == "mjpeg":
        args = [*_lavfi_av(seconds, size, rate, True), "-c:v", "mjpeg", "-q:v", "5"]
        args += ["-pix_fmt", "yuvj422p", "-c:a", "pcm_s16le", "-f", "avi"]
    elif kind == "rotated":
        plain = path.with_name(path.stem + "-plain.mp4")
        make_source(plain, "h264_aac", seconds=seconds, size=size, rate=rate)
        subprocess.run(
            [*_QUIET, "-i", str(plain), "-map", "0", "-c", "copy"]
            + ["-metadata:s:v:0", "rotate=90", "-f", "mp4", str(path)],
            check=True,
        )
        plain.unlink()
        return path
    elif kind == "vfr":
        # Frames 30..59 dropped and later ones shifted: a real gap, not a nominal rate.
        hole = "select='not(between(n,30,59))',setpts='if(lt(N,30),N,N+30)/30/TB'"
        args = ["-f", "lavfi", "-i", f"testsrc2=s={size}:r=30:d={seconds}"]
        # yuv422p H.264 is not browser-safe, so the mezzanine must be re-encoded VFR.
        args += ["-vf", hole, "-fps_mode", "vfr", "-c:v", "libx264", "-preset", "ultrafast"]
        args += ["-pix_fmt", "yuv422p", "-f", "matroska"]
    elif kind == "audio":
        args = ["-f", "lavfi", "-i", f"sine=f=440:b=4:sample_rate=44100:d={seconds}"]
        args += [*aac, "-f", "ipod"]
    elif kind == "video_only":
        args = [*_lavfi_av(seconds, size, rate, False), *x264, "-f", "mp4"]
    elif kind == "h264_pcm":
        args = [*_lavfi_av(seconds, size, rate, True), *x264, "-c:a", "pcm_s16le", "-f", "mov"]
    else:
        raise ValueError(f"unknown source kind {kind!r}")
    subprocess.run([*_QUIET, *args, "-shortest", str(path)], check=True)
    return path


def add_recording(svc: Services, path: Path, media_kind: str = "video") -> str:
    """Store `path` as an original and insert its Recording row; returns the id."""
    return factories.add_recording(svc, path, media_kind=media_kind)


def ffprobe(path: Path) -> dict[str, Any]:
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-print_format", "json", "-show_format", "-show_streams"]
        + [str(path)],
        check=True,
        capture_output=True,
    ).stdout
    data: dict[str, Any] = json.loads(out)
    return data


def packet_times(path: Path, stream: str = "v:0") -> list[float]:
    """Presentation times of a stream's packets, in display order."""
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-select_streams", stream, "-show_entries", "packet=pts_time"]
        + ["-of", "csv=p=0", str(path)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return sorted(float(line) for line in out.split() if line.strip() not in ("", "N/A"))


def box_order(path: Path) -> list[str]:
    """Top-level MP4 box types in file order (faststart puts moov before mdat)."""
    order: list[str] = []
    with path.open("rb") as handle:
        while header := handle.read(8):
            if len(header) < 8:
                break
            size = int.from_bytes(header[:4], "big")
            kind = header[4:8].decode("latin-1")
            order.append(kind)
            if size == 1:
                size = int.from_bytes(handle.read(8), "big")
                handle.seek(size - 16, 1)
            elif size == 0:
                break
            else:
                handle.seek(size - 8, 1)
    return order


_PLAY_JS = """
(async () => {
  const results = {};
  for (const name of NAMES) {
    results[name] = await new Promise((resolve) => {
      const v = document.createElement('video');
      v.muted = true; v.preload = 'auto';
      v.onerror = () => resolve({error: v.error && v.error.code});
      // Seeking to the middle makes the browser decode frames there, not just parse.
      v.onloadeddata = () => { v.onloadeddata = null; v.currentTime = v.duration / 2; };
      v.onseeked = () => resolve({duration: v.duration, width: v.videoWidth,
                                  height: v.videoHeight, time: v.currentTime,
                                  ready: v.readyState});
      document.body.appendChild(v); v.src = name;
    });
  }
  return results;
})()
"""


class _DevTools:
    """The Chrome DevTools protocol over --remote-debugging-pipe (fds 3 and 4)."""

    def __init__(self, browser: str, timeout_s: float) -> None:
        cmd_r, self._cmd_w = os.pipe()
        self._res_r, res_w = os.pipe()

        def wire() -> None:
            os.dup2(cmd_r, 3)
            os.dup2(res_w, 4)

        self.proc = subprocess.Popen(
            [browser, "--headless=new", "--no-sandbox", "--disable-gpu", "--mute-audio"]
            + ["--allow-file-access-from-files", "--remote-debugging-pipe", "about:blank"],
            pass_fds=(3, 4),
            preexec_fn=wire,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        os.close(cmd_r)
        os.close(res_w)
        self._deadline = time.monotonic() + timeout_s
        self._buffer = b""
        self._next_id = 0

    def call(self, method: str, params: dict[str, Any], session: str | None = None) -> Any:
        self._next_id += 1
        message: dict[str, Any] = {"id": self._next_id, "method": method, "params": params}
        if session:
            message["sessionId"] = session
        os.write(self._cmd_w, json.dumps(message).encode() + b"\0")
        while True:
            while b"\0" in self._buffer:
                raw, self._buffer = self._buffer.split(b"\0", 1)
                reply = json.loads(raw)
                if reply.get("id") == self._next_id:
                    if "error" in reply:
                        raise RuntimeError(f"{method}: {reply['error']}")
                    return reply["result"]
            left = self._deadline - time.monotonic()
            if left <= 0 or not select.select([self._res_r], [], [], left)[0]:
                raise TimeoutError(f"browser did not answer {method}")
            chunk = os.read(self._res_r, 1 << 16)
            if not chunk:
                raise RuntimeError("browser exited")
            self._buffer += chunk

    def close(self) -> None:
        with contextlib.suppress(OSError, RuntimeError, TimeoutError):
            self.call("Browser.close", {})
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        os.close(self._cmd_w)
        os.close(self._res_r)


def play_in_chromium(
    browser: str, folder: Path, names: list[str], timeout_s: float = 90
) -> dict[str, Any]:
    """Load each video in `folder` in headless Chromium; what the <video> element saw."""
    page = folder / "blank.html"
    page.write_text("<html><body></body></html>")
    url = page.resolve().as_uri()
    tools = _DevTools(browser, timeout_s)
    try:
        target = tools.call("Target.createTarget", {"url": url})["targetId"]
        session = tools.call("Target.attachToTarget", {"targetId": target, "flatten": True})[
            "sessionId"
        ]
        ready = "document.readyState + ' ' + location.href"
        while True:  # wait for the file page (it grants file access to its neighbours)
            state = tools.call("Runtime.evaluate", {"expression": ready}, session)
            if state["result"].get("value") == f"complete {url}":
                break
            time.sleep(0.05)
        expression = _PLAY_JS.replace("NAMES", json.dumps(names))
        result = tools.call(
            "Runtime.evaluate",
            {"expression": expression, "awaitPromise": True, "returnByValue": True},
            session,
        )
        value: dict[str, Any] = result["result"]["value"]
        return value
    finally:
        tools.close()
