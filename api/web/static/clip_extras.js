// The clip view's extras: start at ?t=, the light proxy on slow links, the thumbnail
// sprite while scrubbing (from its WebVTT index), and the reviewer's bookmarks.
const player = document.getElementById("player");
const clip = document.getElementById("clip");
const rec = clip.dataset.recording;
const reason = clip.dataset.reason || "";
const csrf = () => document.querySelector('meta[name="csrf-token"]')?.content ?? "";
const esc = (s) => String(s ?? "").replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
const clock = (t) => `${Math.floor(t / 60)}:${String(Math.floor(t % 60)).padStart(2, "0")}`;
const headers = (json) => ({
  "X-CSRF-Token": csrf(),
  ...(json ? { "Content-Type": "application/json" } : {}),
  ...(reason ? { "X-Custos-Reason": encodeURIComponent(reason) } : {}),
});

// -- quality and start time ----------------------------------------------------------
const quality = document.getElementById("quality");
const link = navigator.connection;
// A measured downlink of 0 means "unknown" (headless, privacy settings): not slow.
const slow = Boolean(link && (link.saveData || ["slow-2g", "2g", "3g"].includes(link.effectiveType) ||
  (link.downlink > 0 && link.downlink < 1.5)));
function useQuality(kind, at) {
  const t = at ?? player.currentTime, playing = !player.paused;
  const url = player.dataset[kind];
  if (!url || player.getAttribute("src") === url) return false;
  player.src = url;
  player.addEventListener("loadedmetadata", () => { player.currentTime = t; if (playing) player.play(); }, { once: true });
  return true;
}
const startAt = parseFloat(clip.dataset.start);
const from = Number.isFinite(startAt) && startAt > 0 ? startAt : 0;
if (slow && quality) quality.value = "proxy";
if (!(slow && useQuality("proxy", from)) && from) {
  // The metadata may have arrived before this module ran.
  if (player.readyState >= 1) player.currentTime = from;
  else player.addEventListener("loadedmetadata", () => { player.currentTime = from; }, { once: true });
}
quality?.addEventListener("change", () => useQuality(quality.value));

// -- sprite while scrubbing ----------------------------------------------------------
const scrub = document.getElementById("scrub");
const preview = document.getElementById("scrub-preview");
const previewTime = document.getElementById("scrub-time");
let tiles = [];
const vttTime = (s) => s.split(":").reduce((acc, part) => acc * 60 + parseFloat(part), 0);
fetch(player.dataset.spriteIndex, { credentials: "same-origin" })
  .then((r) => (r.ok ? r.text() : ""))
  .then((text) => {
    const cue = /([\d:.]+)\s+-->\s+([\d:.]+)\s*\n[^#\n]*#xywh=(\d+),(\d+),(\d+),(\d+)/g;
    for (const m of text.matchAll(cue)) {
      tiles.push({ start: vttTime(m[1]), end: vttTime(m[2]), x: +m[3], y: +m[4], w: +m[5], h: +m[6] });
    }
    scrub.closest(".scrub").classList.toggle("has-sprite", tiles.length > 0);
  }).catch(() => { tiles = []; });

const duration = () => (Number.isFinite(player.duration) ? player.duration : 0);
function showTile(t, x) {
  const tile = tiles.find((c) => c.start <= t && t < c.end) ?? tiles[tiles.length - 1];
  previewTime.textContent = clock(t);
  if (tile) {
    preview.style.backgroundImage = `url("${player.dataset.sprite}")`;
    preview.style.backgroundPosition = `-${tile.x}px -${tile.y}px`;
    preview.style.width = `${tile.w}px`;
    preview.style.height = `${tile.h}px`;
    preview.dataset.tile = `${tile.x},${tile.y}`;
  }
  const width = scrub.clientWidth;
  preview.style.left = `${Math.max(0, Math.min(width - (tile?.w ?? 80), x - (tile?.w ?? 80) / 2))}px`;
  preview.hidden = false;
}
scrub.addEventListener("pointermove", (ev) => {
  if (!duration()) return;
  const frac = Math.max(0, Math.min(1, ev.offsetX / scrub.clientWidth));
  showTile(frac * duration(), ev.offsetX);
});
scrub.addEventListener("pointerleave", () => { preview.hidden = true; });
scrub.addEventListener("input", () => {
  const t = (scrub.value / 1000) * duration();
  showTile(t, (scrub.value / 1000) * scrub.clientWidth);
  player.currentTime = t;
});
scrub.addEventListener("change", () => { preview.hidden = true; });
player.addEventListener("timeupdate", () => {
  if (duration() && document.activeElement !== scrub) scrub.value = String(Math.round(1000 * player.currentTime / duration()));
});

// -- bookmarks -------------------------------------------------------------------------
const api = `/api/recordings/${encodeURIComponent(rec)}/bookmarks`;
const list = document.getElementById("bookmark-list");
async function loadBookmarks() {
  const r = await fetch(api, { credentials: "same-origin", headers: headers(false) });
  if (!r.ok) return;
  list.innerHTML = "";
  for (const b of await r.json()) {
    const li = document.createElement("li");
    li.className = "bookmark";
    li.dataset.at = b.at_s;
    li.innerHTML = `<button type="button" class="link go">${clock(b.at_s)}</button> ${esc(b.note)} ` +
      `<button type="button" class="drop" aria-label="remove">×</button>`;
    li.querySelector(".go").addEventListener("click", () => { player.currentTime = b.at_s; });
    li.querySelector(".drop").addEventListener("click", async () => {
      await fetch(`${api}/${b.id}`, { method: "DELETE", credentials: "same-origin", headers: headers(false) });
      loadBookmarks();
    });
    list.append(li);
  }
}
document.getElementById("bookmark-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const note = document.getElementById("bookmark-note");
  const r = await fetch(api, { method: "POST", credentials: "same-origin", headers: headers(true),
    body: JSON.stringify({ at_s: player.currentTime, note: note.value }) });
  if (r.ok) { note.value = ""; loadBookmarks(); }
});
loadBookmarks();
