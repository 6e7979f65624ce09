"""The mezzanine plays in a real browser (Debian's Chromium, headless) at the right length."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

from ingest.acquire import CaptureMeta, IngestCallbacks, ingest
from ingest.normalise import NormaliseParams, run_normalise
from storage.derived import derivatives_of
from storage.services import Services
from tests.needs import unavailable

PAGE = """<!doctype html><html><body><video id="v" muted src="{src}"></video><script>
const v = document.getElementById('v');
const out = (text) => {{ document.title = text; }};
v.addEventListener('error', () => out('ERROR ' + (v.error && v.error.code)));
v.addEventListener('loadedmetadata', () => {{
  const duration = v.duration, w = v.videoWidth, h = v.videoHeight;
  // Draw the decoded frame: a frame that really decoded is not uniform. `seeked` can fire
  // before the frame reaches the compositor (seen once on a loaded box: a blank canvas),
  // so the drawing is retried for up to 2 s; a frame that never decodes stays uniform.
  const draw = (tries) => {{
    let lo = 255, hi = 0;
    try {{
      const c = document.createElement('canvas'); c.width = w; c.height = h;
      const g = c.getContext('2d'); g.drawImage(v, 0, 0);
      const px = g.getImageData(0, 0, w, h).data;
      for (let i = 0; i < px.length; i += 4) {{
        lo = Math.min(lo, px[i]); hi = Math.max(hi, px[i]);
      }}
    }} catch (e) {{ out('CANVAS ' + e); return; }}
    if (hi - lo <= 50 && tries > 0) {{ setTimeout(() => draw(tries - 1), 100); return; }}
    out('OK duration=' + duration + ' size=' + w + 'x' + h + ' t=' + v.currentTime +
        ' range=' + (hi - lo));
  }};
  v.addEventListener('seeked', () => draw(20));
  v.currentTime = 2.0;
}});
</script></body></html>"""


def _chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    unavailable("Chromium is not installed (scripts/setup.sh installs Debian's chromium)")


def test_mezzanine_plays_in_chromium_with_the_original_duration(
    svc_sqlite: Services, tmp_path: Path
) -> None:
    browser = _chromium()
    src = tmp_path / "src.mpg"  # MPEG-1/MP2, as old recorders write: must be re-encoded
    subprocess.run(
        [
            "ffmpeg",
            "-nostdin",
            "-loglevel",
            "error",
            "-f",
            "lavfi",
            "-i",
            "testsrc2=size=352x288:rate=25:duration=3",
            "-f",
            "lavfi",
            "-i",
            "sine=frequency=440:duration=3",
            "-c:v",
            "mpeg1video",
            "-c:a",
            "mp2",
            str(src),
        ],
        check=True,
        timeout=120,
    )
    ids: list[str] = []
    ingest(svc_sqlite, [src], CaptureMeta(), IngestCallbacks(on_new_recording=ids.append))
    run_normalise(
        svc_sqlite, ids[0], NormaliseParams.from_settings(svc_sqlite.settings), lambda f: None
    )
    (mezz,) = derivatives_of(svc_sqlite, ids[0], "mezzanine")
    video = svc_sqlite.store.local_file(mezz.object_key)
    assert video is not None
    page = tmp_path / "play.html"
    page.write_text(PAGE.format(src=video.as_uri()))
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(
            executable_path=browser,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--allow-file-access-from-files",
            ],
        )
        try:
            tab = chromium.new_page()
            tab.goto(page.as_uri())
            tab.wait_for_function("document.title !== ''", timeout=60_000)
            text = tab.title()
        finally:
            chromium.close()
    assert text.startswith("OK"), text
    duration = float(re.search(r"duration=([\d.]+)", text).group(1))  # type: ignore[union-attr]
    assert abs(duration - 3.0) <= 1 / 25 + 1e-6  # within one frame of the original
    assert "size=352x288" in text
    assert abs(float(re.search(r" t=([\d.]+)", text).group(1)) - 2.0) < 0.1  # type: ignore[union-attr]
    assert int(re.search(r"range=(\d+)", text).group(1)) > 50  # type: ignore[union-attr]
