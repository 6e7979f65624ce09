// Played ranges of a <video>, reported to the access log (POST .../played, ledgered).
const csrf = () => document.querySelector('meta[name="csrf-token"]')?.content ?? "";

export function reportPlayed(player, recordingId, streamOf, reason = "") {
  const done = [];
  let current = null;
  const url = `/api/recordings/${encodeURIComponent(recordingId)}/played`;

  const open = () => { current = { start: player.currentTime, end: player.currentTime }; };
  const close = () => {
    if (current && current.end - current.start > 0.05) done.push(current);
    current = null;
  };
  const flush = (leaving) => {
    const ranges = done.splice(0, done.length);
    if (current && current.end - current.start > 0.05) {
      ranges.push({ ...current });
      current.start = current.end;
    }
    if (!ranges.length) return;
    fetch(url, {
      method: "POST",
      credentials: "same-origin",
      keepalive: leaving,
      headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf(),
                 ...(reason ? { "X-Custos-Reason": encodeURIComponent(reason) } : {}) },
      body: JSON.stringify({ ranges, stream: streamOf() }),
    }).then((r) => {
      if (r.status === 401) {
        location.href = "/login?expired=1&next=" + encodeURIComponent(location.pathname);
      }
    }).catch(() => { done.unshift(...ranges); });
  };

  player.addEventListener("playing", open);
  player.addEventListener("timeupdate", () => { if (current) current.end = player.currentTime; });
  player.addEventListener("seeking", close);
  player.addEventListener("seeked", () => { if (!player.paused) open(); });
  player.addEventListener("pause", () => { close(); flush(false); });
  player.addEventListener("ended", () => { close(); flush(false); });
  setInterval(() => flush(false), 15000);
  addEventListener("pagehide", () => flush(true));
  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState === "hidden") flush(true);
  });
  return { flush };
}
