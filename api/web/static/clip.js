// The clip view: the player beside its transcript. The word being spoken is highlighted
// (class "current") and kept in view; a click on a word seeks there; search; keyboard.
import { reportPlayed } from "./played.js";

const player = document.getElementById("player");
const clip = document.getElementById("clip");
const panes = [...document.querySelectorAll(".transcript")];
const search = document.getElementById("search");
const count = document.getElementById("search-count");
const select = document.getElementById("stream-select");
let pane = panes[0] ?? null;
let words = [];
let currentWord = null;
let hits = [];
let hitAt = -1;

const num = (el, name) => parseFloat(el.dataset[name]);

function usePane(i) {
  panes.forEach((p, j) => { p.hidden = j !== i; });
  pane = panes[i] ?? null;
  words = pane ? [...pane.querySelectorAll(".word")] : [];
  words.forEach((w) => { w._s = num(w, "start"); w._e = num(w, "end"); });
  if (player.audioTracks && player.audioTracks.length > i) {
    for (let j = 0; j < player.audioTracks.length; j++) player.audioTracks[j].enabled = j === i;
  }
  setCurrent(null);
  runSearch();
  highlight();
}

function wordAt(t) {
  let lo = 0, hi = words.length - 1, found = null;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if (words[mid]._s <= t) { found = mid; lo = mid + 1; } else { hi = mid - 1; }
  }
  if (found === null) return null;
  const w = words[found];
  return t <= w._e ? w : null;
}

function setCurrent(w) {
  if (w === currentWord) return;
  currentWord?.classList.remove("current");
  currentWord = w;
  if (w) {
    w.classList.add("current");
    w.scrollIntoView({ block: "nearest", inline: "nearest" });
  }
}

function highlight() { setCurrent(wordAt(player.currentTime)); }

function tick() {
  highlight();
  if (!player.paused && !player.ended) requestAnimationFrame(tick);
}

player.addEventListener("play", () => requestAnimationFrame(tick));
player.addEventListener("timeupdate", highlight);
player.addEventListener("seeked", highlight);

function seek(t) {
  const end = Number.isFinite(player.duration) ? player.duration : t;
  player.currentTime = Math.max(0, Math.min(t, end));
  highlight();
}

document.addEventListener("click", (e) => {
  const target = e.target.closest(".word, .untranscribed");
  if (target && pane?.contains(target)) seek(num(target, "start"));
});

function runSearch() {
  for (const el of document.querySelectorAll(".hit")) el.classList.remove("hit");
  hits = [];
  hitAt = -1;
  const q = (search?.value ?? "").trim().toLowerCase();
  if (!q || !pane) { if (count) count.textContent = ""; return; }
  let matches = 0;
  for (const seg of pane.querySelectorAll(".segment")) {
    const ws = [...seg.querySelectorAll(".word")];
    let text = "";
    const spans = ws.map((w) => {
      const from = text.length;
      text += w.textContent.toLowerCase();
      return [from, text.length, w];
    });
    for (let at = text.indexOf(q); at !== -1; at = text.indexOf(q, at + 1)) {
      matches += 1;
      for (const [from, to, w] of spans) {
        if (from < at + q.length && to > at && !w.classList.contains("hit")) {
          w.classList.add("hit");
          hits.push(w);
        }
      }
    }
  }
  if (count) count.textContent = `${matches} ${count.dataset.label}`;
}

function nextHit(step) {
  if (!hits.length) return;
  hitAt = (hitAt + step + hits.length) % hits.length;
  hits[hitAt].scrollIntoView({ block: "center" });
  seek(hits[hitAt]._s ?? num(hits[hitAt], "start"));
}

search?.addEventListener("input", runSearch);
search?.addEventListener("keydown", (e) => {
  if (e.key === "Enter") { e.preventDefault(); nextHit(e.shiftKey ? -1 : 1); }
});
select?.addEventListener("change", () => usePane(Number(select.value)));

document.addEventListener("keydown", (e) => {
  if (e.ctrlKey || e.metaKey || e.altKey) return;
  if (e.target.closest?.("input, textarea, select, button")) return;
  const key = e.key.length === 1 ? e.key.toLowerCase() : e.key;
  const actions = {
    " ": () => (player.paused ? player.play() : player.pause()),
    k: () => player.pause(),
    j: () => seek(player.currentTime - 10),
    l: () => seek(player.currentTime + 10),
    ArrowLeft: () => seek(player.currentTime - 5),
    ArrowRight: () => seek(player.currentTime + 5),
  };
  if (actions[key]) { e.preventDefault(); actions[key](); }
});

const streamOf = () => {
  const s = pane?.dataset.stream;
  return s === undefined || s === "" ? null : Number(s);
};
reportPlayed(player, clip.dataset.recording, streamOf, clip.dataset.reason || "");
usePane(0);
window.custosClip = { seek, words: () => words };
