// The redaction screen: tracks kept or redacted, regions drawn on a frame with keyframes,
// muted spans from transcript words and spoken-number suggestions; save (a new plan
// version with a reason), render, step through the exposure findings, fix or
// acknowledge each, export. Everything goes through the same API the CLI's peers use.
import { reportPlayed } from "./played.js";

const root = document.getElementById("redact");
const rec = root.dataset.recording;
const canWrite = root.dataset.canWrite === "true";
const fps = parseFloat(root.dataset.fps) || 25;
const T = JSON.parse(document.getElementById("t-strings").textContent);
const player = document.getElementById("player");
const overlay = document.getElementById("overlay");
const ctx = overlay.getContext("2d");
const $ = (id) => document.getElementById(id);
const api = `/api/recordings/${encodeURIComponent(rec)}`;
const csrf = () => document.querySelector('meta[name="csrf-token"]')?.content ?? "";

let frameW = parseFloat(root.dataset.width) || 0;
let frameH = parseFloat(root.dataset.height) || 0;
let plan = null;          // the current plan (as the API returns it)
let version = null;
let regions = [];         // edited copy of plan.regions
let mutes = [];           // edited copy of plan.mutes
let trackChoice = {};     // track_no -> {redact, method}
let findings = [];
let selectedRegion = null;
let drawing = false;
let drag = null;          // {x0, y0, x1, y1} in frame pixels while drawing
let shownBox = null;      // a finding's box to outline, in frame pixels
let wordsPicked = [];

function status(text, bad = false) {
  const el = $("status");
  el.textContent = text;
  el.classList.toggle("bad", bad);
}

async function call(method, url, body) {
  const headers = { "X-CSRF-Token": csrf() };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const r = await fetch(url, { method, credentials: "same-origin", headers,
    body: body === undefined ? undefined : JSON.stringify(body) });
  if (r.status === 401) {
    location.href = "/login?expired=1&next=" + encodeURIComponent(location.pathname);
    throw new Error("session ended");
  }
  const data = r.headers.get("content-type")?.includes("json") ? await r.json() : null;
  if (!r.ok) throw new Error((data && data.detail) || `${r.status}`);
  return data;
}

const clock = (t) => {
  const m = Math.floor(t / 60), s = t - 60 * m;
  return `${m}:${s.toFixed(3).padStart(6, "0")}`;
};

// -- drawing ---------------------------------------------------------------------------
function fitOverlay() {
  overlay.width = player.clientWidth;
  overlay.height = player.clientHeight;
  if (!frameW && player.videoWidth) { frameW = player.videoWidth; frameH = player.videoHeight; }
  paint();
}
// The video keeps its aspect (object-fit: contain): the picture's box inside the element.
function picture() {
  const cw = overlay.width, ch = overlay.height;
  if (!frameW || !frameH) return { x: 0, y: 0, w: cw, h: ch };
  const s = Math.min(cw / frameW, ch / frameH);
  return { x: (cw - frameW * s) / 2, y: (ch - frameH * s) / 2, w: frameW * s, h: frameH * s };
}
const toFrame = (cx, cy) => {
  const p = picture();
  return [Math.max(0, Math.min(frameW, (cx - p.x) * frameW / p.w)),
          Math.max(0, Math.min(frameH, (cy - p.y) * frameH / p.h))];
};
const toCss = (fx, fy) => {
  const p = picture();
  return [p.x + fx * p.w / frameW, p.y + fy * p.h / frameH];
};

function boxAt(region, t) {
  if (t < region.start || t > region.end || !region.keyframes.length) return null;
  const keys = [...region.keyframes].sort((a, b) => a[0] - b[0]);
  if (t <= keys[0][0]) return keys[0].slice(1);
  for (let i = 0; i + 1 < keys.length; i++) {
    const a = keys[i], b = keys[i + 1];
    if (a[0] <= t && t <= b[0]) {
      const w = b[0] > a[0] ? (t - a[0]) / (b[0] - a[0]) : 0;
      return [1, 2, 3, 4].map((k) => a[k] + w * (b[k] - a[k]));
    }
  }
  return keys[keys.length - 1].slice(1);
}

function outline(box, shape, colour, dashed = false) {
  const [x1, y1] = toCss(box[0], box[1]);
  const [x2, y2] = toCss(box[2], box[3]);
  ctx.strokeStyle = colour;
  ctx.lineWidth = 2;
  ctx.setLineDash(dashed ? [6, 4] : []);
  ctx.beginPath();
  if (shape === "ellipse") {
    ctx.ellipse((x1 + x2) / 2, (y1 + y2) / 2, Math.abs(x2 - x1) / 2, Math.abs(y2 - y1) / 2, 0, 0, 2 * Math.PI);
  } else {
    ctx.rect(x1, y1, x2 - x1, y2 - y1);
  }
  ctx.stroke();
}

function paint() {
  ctx.clearRect(0, 0, overlay.width, overlay.height);
  if (!frameW) return;
  const t = player.currentTime;
  for (const r of regions) {
    const box = boxAt(r, t);
    if (box) outline(box, r.shape, r.id === selectedRegion ? "#ffb300" : "#00e5ff");
  }
  if (drag) outline([Math.min(drag.x0, drag.x1), Math.min(drag.y0, drag.y1),
                     Math.max(drag.x0, drag.x1), Math.max(drag.y0, drag.y1)], $("shape")?.value, "#ffb300", true);
  if (shownBox) outline(shownBox, "rect", "#ff1744", true);
  $("clock").textContent = clock(t);
}

function startDrawing(on) {
  drawing = on;
  overlay.classList.toggle("drawing", on);
  $("draw")?.setAttribute("aria-pressed", String(on));
  if (on) { player.pause(); status(T.draw_help); }
}

overlay.addEventListener("pointerdown", (ev) => {
  if (!drawing) return;
  const [x, y] = toFrame(ev.offsetX, ev.offsetY);
  drag = { x0: x, y0: y, x1: x, y1: y };
  overlay.setPointerCapture(ev.pointerId);
});
overlay.addEventListener("pointermove", (ev) => {
  if (!drag) return;
  [drag.x1, drag.y1] = toFrame(ev.offsetX, ev.offsetY);
  paint();
});
overlay.addEventListener("pointerup", () => {
  if (!drag) return;
  const box = [Math.min(drag.x0, drag.x1), Math.min(drag.y0, drag.y1),
               Math.max(drag.x0, drag.x1), Math.max(drag.y0, drag.y1)];
  drag = null;
  if (box[2] - box[0] < 2 || box[3] - box[1] < 2) { paint(); return; }
  const t = +player.currentTime.toFixed(3);
  const key = [t, ...box.map((v) => Math.round(v))];
  const region = regions.find((r) => r.id === selectedRegion && r._adding);
  if (region) {
    region.keyframes = region.keyframes.filter((k) => Math.abs(k[0] - t) > 1e-3).concat([key]);
    region.start = Math.min(region.start, t);
    region.end = Math.max(region.end, t);
    region._adding = false;
  } else {
    const id = `r${Date.now().toString(36)}`;
    const end = Math.min(t + 2, player.duration || t + 2);
    regions.push({ id, start: t, end: +end.toFixed(3), keyframes: [key], shape: $("shape").value,
                   method: "blur", note: "" });
    selectedRegion = id;
  }
  startDrawing(false);
  showRegions();
  paint();
  dirty();
});

// -- lists -----------------------------------------------------------------------------
function li(html) {
  const el = document.createElement("li");
  el.innerHTML = html;
  return el;
}
const esc = (s) => String(s ?? "").replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
const methodSelect = (value, cls) => `<select class="${cls}" ${canWrite ? "" : "disabled"}>` +
  ["blur", "pixelate", "solid"].map((m) => `<option value="${m}" ${m === value ? "selected" : ""}>${esc(T["method_" + m])}</option>`).join("") + "</select>";

function showTracks() {
  const list = $("tracks");
  list.innerHTML = "";
  for (const t of plan?.tracks ?? []) {
    const c = trackChoice[t.track_no];
    const item = li(
      `<img class="thumb" alt="" loading="lazy" src="${api}/tracks/${t.track_no}/thumbnail">` +
      `<span class="what"><b>#${t.track_no}</b> ${esc(T["cat_" + t.category] || t.category)}` +
      ` <button type="button" class="seek link">${clock(t.first_time)}–${clock(t.last_time)}</button></span>` +
      `<label><input type="checkbox" class="keep" ${c.redact ? "" : "checked"} ${canWrite ? "" : "disabled"}> ${esc(T.keep)}</label>` +
      methodSelect(c.method, "method"));
    item.dataset.track = t.track_no;
    item.classList.toggle("kept", !c.redact);
    item.querySelector("img").addEventListener("error", (ev) => { ev.target.hidden = true; });
    item.querySelector(".seek").addEventListener("click", () => { player.currentTime = t.first_time; });
    item.querySelector(".keep").addEventListener("change", (ev) => {
      c.redact = !ev.target.checked; item.classList.toggle("kept", !c.redact); dirty();
    });
    item.querySelector(".method").addEventListener("change", (ev) => { c.method = ev.target.value; dirty(); });
    list.append(item);
  }
}

function showRegions() {
  const list = $("regions");
  list.innerHTML = "";
  for (const r of regions) {
    const item = li(
      `<button type="button" class="pick link">${esc(r.id)}</button> ${esc(T[r.shape] || r.shape)}, ` +
      `<input class="start" type="number" step="0.04" min="0" value="${r.start}" ${canWrite ? "" : "disabled"}>–` +
      `<input class="end" type="number" step="0.04" min="0" value="${r.end}" ${canWrite ? "" : "disabled"}> s, ` +
      `${r.keyframes.length} ${esc(T.keyframes)} ` + methodSelect(r.method, "method") +
      (canWrite ? ` <button type="button" class="drop">${esc(T.remove)}</button>` : ""));
    item.dataset.region = r.id;
    item.classList.toggle("selected", r.id === selectedRegion);
    item.querySelector(".pick").addEventListener("click", () => {
      selectedRegion = r.id; player.currentTime = r.start; showRegions(); paint();
      if ($("keyframe")) $("keyframe").disabled = false;
    });
    item.querySelector(".start").addEventListener("change", (ev) => { r.start = +ev.target.value; dirty(); paint(); });
    item.querySelector(".end").addEventListener("change", (ev) => { r.end = +ev.target.value; dirty(); paint(); });
    item.querySelector(".method").addEventListener("change", (ev) => { r.method = ev.target.value; dirty(); });
    item.querySelector(".drop")?.addEventListener("click", () => {
      regions = regions.filter((x) => x !== r); if (selectedRegion === r.id) selectedRegion = null;
      showRegions(); paint(); dirty();
    });
    list.append(item);
  }
  if ($("keyframe")) $("keyframe").disabled = !regions.some((r) => r.id === selectedRegion);
}

function showMutes() {
  const list = $("mutes");
  list.innerHTML = "";
  mutes.forEach((m, i) => {
    const label = m.source === "pii" ? `${esc(T.suggested)}: ${esc(T["pii_" + m.kind] || m.kind)}` : esc(T.manual);
    const item = li(
      `<label><input type="checkbox" class="on" ${m._off ? "" : "checked"} ${canWrite ? "" : "disabled"}> ${label}</label> ` +
      `<button type="button" class="seek link">${clock(m.start)}–${clock(m.end)}</button> ` +
      `<select class="mode" ${canWrite ? "" : "disabled"}><option value="mute" ${m.mode === "mute" ? "selected" : ""}>${esc(T.mode_mute)}</option>` +
      `<option value="bleep" ${m.mode === "bleep" ? "selected" : ""}>${esc(T.mode_bleep)}</option></select>`);
    item.dataset.mute = i;
    item.querySelector(".on").addEventListener("change", (ev) => { m._off = !ev.target.checked; dirty(); });
    item.querySelector(".mode").addEventListener("change", (ev) => { m.mode = ev.target.value; dirty(); });
    item.querySelector(".seek").addEventListener("click", () => { player.currentTime = m.start; });
    list.append(item);
  });
}

function showFindings(render) {
  findings = render ? render.findings : [];
  $("no-render").hidden = Boolean(render);
  const list = $("findings");
  list.innerHTML = "";
  for (const f of findings) {
    const item = li(
      `<b>#${f.id}</b> ${esc(T["cat_" + f.category] || f.category)} ${clock(f.first_time)}–${clock(f.last_time)}, ` +
      `${f.frames} ${esc(T.frames)} <span class="state state-${esc(f.state)}">${esc(T["state_" + f.state] || f.state)}</span>` +
      `<div class="tools"><button type="button" class="show">${esc(T.show)}</button>` +
      `<button type="button" class="prev" title="${esc(T.frame_back)}">◀</button><button type="button" class="next" title="${esc(T.frame_fwd)}">▶</button>` +
      (canWrite && f.state === "open" ? `<button type="button" class="fix">${esc(T.fix)}</button>` +
        `<input class="ack-reason" type="text" maxlength="2000" placeholder="${esc(T.ack_reason)}">` +
        `<button type="button" class="ack">${esc(T.acknowledge)}</button>` : "") +
      (f.ack_reason ? ` <em>${esc(f.ack_reason)}</em>` : "") + "</div>");
    item.dataset.finding = f.id;
    const show = () => { shownBox = f.box; player.pause(); player.currentTime = f.first_time; paint(); };
    item.querySelector(".show").addEventListener("click", show);
    item.querySelector(".prev").addEventListener("click", () => { shownBox = f.box; step(-1); });
    item.querySelector(".next").addEventListener("click", () => { shownBox = f.box; step(1); });
    item.querySelector(".fix")?.addEventListener("click", () => {
      // Cover what was found for as long as it was seen, with a margin: then render again.
      const pad = 0.15 * Math.max(f.box[2] - f.box[0], f.box[3] - f.box[1]);
      const box = [Math.max(0, f.box[0] - pad), Math.max(0, f.box[1] - pad),
                   Math.min(frameW || 1e5, f.box[2] + pad), Math.min(frameH || 1e5, f.box[3] + pad)].map(Math.round);
      regions.push({ id: `fix${f.id}`, start: f.first_time, end: f.last_time, shape: "rect",
                     method: "blur", note: `finding ${f.id}`, keyframes: [[f.first_time, ...box]] });
      $("plan-reason").value ||= `${T.fix} #${f.id}`;
      showRegions(); paint(); dirty();
      status(T.fixed_hint);
    });
    item.querySelector(".ack")?.addEventListener("click", async () => {
      const reason = item.querySelector(".ack-reason").value.trim();
      if (!reason) { status(T.need_reason, true); return; }
      try {
        await call("POST", `${api}/findings/${f.id}/acknowledge`, { reason });
        await loadRender();
        status(T.acknowledged);
      } catch (e) { status(e.message, true); }
    });
    list.append(item);
  }
}

// -- state -----------------------------------------------------------------------------
function dirty() { $("save-plan")?.classList.add("pending"); }

function adopt(planOut) {
  const cur = planOut.current;
  $("no-plan").hidden = Boolean(cur);
  if (!cur) { plan = null; return; }
  plan = cur.plan;
  version = cur.version;
  regions = plan.regions.map((r) => ({ ...r, keyframes: r.keyframes.map((k) => [...k]) }));
  mutes = plan.mutes.map((m) => ({ ...m }));
  trackChoice = Object.fromEntries(plan.tracks.map((t) => [t.track_no, { redact: t.redact, method: t.method, note: t.note }]));
  $("plan-version").textContent = `${T.plan_version} ${cur.version} · ${cur.author} · ${cur.reason}`;
  $("save-plan")?.classList.remove("pending");
  showTracks(); showRegions(); showMutes(); paint();
}

async function loadPlan() { adopt(await call("GET", `${api}/plan`)); }

async function loadRender() {
  try {
    const render = await call("GET", `${api}/renders/latest`);
    showFindings(render);
    return render;
  } catch (e) {
    showFindings(null);
    return null;
  }
}

async function save() {
  const reason = $("plan-reason").value.trim();
  if (!reason) { status(T.need_reason, true); $("plan-reason").focus(); return false; }
  const body = {
    reason,
    tracks: Object.entries(trackChoice).map(([no, c]) => ({ track_no: +no, redact: c.redact, method: c.method, note: c.note || "" })),
    regions: regions.map(({ _adding, ...r }) => r),
    mutes: mutes.filter((m) => !m._off).map(({ _off, ...m }) => m),
  };
  try {
    adopt(await call("PUT", `${api}/plan`, body));
    $("plan-reason").value = "";
    status(`${T.saved} ${version}`);
    return true;
  } catch (e) { status(e.message, true); return false; }
}

function step(frames) {
  player.pause();
  player.currentTime = Math.max(0, player.currentTime + frames / fps);
}

// -- wiring ----------------------------------------------------------------------------
player.addEventListener("loadedmetadata", fitOverlay);
player.addEventListener("timeupdate", paint);
player.addEventListener("seeked", paint);
addEventListener("resize", fitOverlay);
new ResizeObserver(fitOverlay).observe(player);
$("frame-back").addEventListener("click", () => step(-1));
$("frame-fwd").addEventListener("click", () => step(1));
document.addEventListener("keydown", (ev) => {
  if (ev.target.closest("input, select, textarea")) return;
  if (ev.key === ",") step(-1);
  if (ev.key === ".") step(1);
  if (ev.key === "Escape") { startDrawing(false); drag = null; shownBox = null; paint(); }
});
for (const radio of document.querySelectorAll('input[name="view"]')) {
  radio.addEventListener("change", () => {
    const t = player.currentTime;
    player.src = radio.value === "redacted" ? `${api}/renders/latest/media` : `${api}/media/mezzanine`;
    player.addEventListener("loadedmetadata", () => { player.currentTime = t; }, { once: true });
  });
}
$("draw")?.addEventListener("click", () => startDrawing(!drawing));
$("keyframe")?.addEventListener("click", () => {
  const r = regions.find((x) => x.id === selectedRegion);
  if (!r) return;
  r._adding = true;
  startDrawing(true);
});
$("make-plan")?.addEventListener("click", async () => {
  try { adopt(await call("POST", `${api}/plan`)); status(T.saved); } catch (e) { status(e.message, true); }
});
$("save-plan")?.addEventListener("click", save);
$("render")?.addEventListener("click", async () => {
  if ($("save-plan").classList.contains("pending") && !(await save())) return;
  $("render").disabled = true;
  status(T.rendering);
  try {
    const render = await call("POST", `${api}/renders`);
    showFindings(render);
    status(render.open_findings ? `${render.open_findings} ${T.open_findings}` : T.render_clean);
  } catch (e) { status(e.message, true); }
  $("render").disabled = false;
});

// Words picked for muting: a click picks one, a shift-click extends to a range.
const wordEls = [...document.querySelectorAll("#mute-words .word")];
let anchor = null;
for (const w of wordEls) {
  w.addEventListener("click", (ev) => {
    const i = wordEls.indexOf(w);
    if (ev.shiftKey && anchor !== null) {
      const [a, b] = [Math.min(anchor, i), Math.max(anchor, i)];
      wordsPicked = wordEls.slice(a, b + 1);
    } else { anchor = i; wordsPicked = [w]; }
    wordEls.forEach((x) => x.classList.toggle("picked", wordsPicked.includes(x)));
    if ($("mute-selection")) $("mute-selection").disabled = !wordsPicked.length;
    player.currentTime = parseFloat(w.dataset.start);
  });
}
$("mute-selection")?.addEventListener("click", () => {
  if (!wordsPicked.length) return;
  const start = Math.min(...wordsPicked.map((w) => parseFloat(w.dataset.start)));
  const end = Math.max(...wordsPicked.map((w) => parseFloat(w.dataset.end)));
  mutes.push({ stream_index: parseInt(wordsPicked[0].dataset.stream, 10) || 0, start, end,
               mode: "bleep", kind: "manual", text: wordsPicked.map((w) => w.textContent).join(" "),
               channel: null, source: "manual" });
  wordsPicked = [];
  wordEls.forEach((x) => x.classList.remove("picked"));
  showMutes(); dirty();
});

$("export-form")?.addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const out = $("export-result");
  out.textContent = T.exporting;
  try {
    const made = await call("POST", `${api}/exports`, { purpose: $("purpose").value, recipient: $("recipient").value.trim() });
    out.innerHTML = `${esc(T.exported)} <a id="package-link" href="/api/exports/${encodeURIComponent(made.id)}/download" download>${esc(made.id)}</a>` +
      ` <span class="hint">sha256 ${esc(made.sha256)}</span>`;
  } catch (e) { out.textContent = e.message; out.classList.add("bad"); }
});

reportPlayed(player, rec, () => null);
loadPlan().then(loadRender).catch((e) => status(e.message, true));
