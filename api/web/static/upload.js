// The upload page: files, or a whole dropped folder, go to the tus endpoint /api/uploads/
// (tus-js-client, vendored), one file at a time, one batch id per drop or pick. After its
// last byte each upload is acquired on the server like `custos ingest`; its receipt entry
// (stored, duplicate, unplayable, ...) is polled from GET /api/uploads/{id} and shown.
// Pause aborts the running request; resume starts the same tus.Upload again, which asks
// the server for its offset (HEAD) and goes on from there.

const tus = window.tus; // the UMD bundle, loaded by a classic <script> before this module
const strings = JSON.parse(document.getElementById("upload-strings").textContent);
const say = (key) => strings[key] ?? key;
const accepted = new Set(JSON.parse(document.getElementById("upload-keys").textContent));
const csrf = () => document.querySelector('meta[name="csrf-token"]')?.content ?? "";
// One PATCH per chunk: large enough to be cheap, small enough that a proxy's body limit
// or a dropped connection costs little. A page may set CUSTOS_TUS_CHUNK (tests do).
const CHUNK = Number(window.CUSTOS_TUS_CHUNK) || 32 * 1024 * 1024;
const POLL_MS = [300, 500, 1000, 2000, 3000]; // receipt polling, slowing down
const META_FIELDS = ["step", "collector", "place", "proves", "device_kind"];

const form = document.getElementById("upload-form");
const caseSelect = document.getElementById("up-case");
const message = document.getElementById("up-message");
const pane = document.getElementById("progress-pane");
const batchesEl = document.getElementById("batches");
const totalBar = document.getElementById("total-progress");
const totalText = document.getElementById("total-text");
const pauseButton = document.getElementById("pause-toggle");
const dropZone = document.getElementById("drop-zone");

const items = []; // every file picked on this page, in upload order
const pending = []; // items not started yet
let active = null; // the item whose upload is running (or paused)
let paused = false;

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (key === "text") node.textContent = value;
    else node.setAttribute(key, value);
  }
  node.append(...children);
  return node;
}

function bytes(n) {
  const units = ["B", "KB", "MB", "GB", "TB"];
  let i = 0;
  while (n >= 1000 && i < units.length - 1) { n /= 1000; i += 1; }
  return `${n.toFixed(i ? 1 : 0)} ${units[i]}`;
}

function batchId() {
  // crypto.randomUUID needs a secure context; getRandomValues works over plain http too
  const random = crypto.getRandomValues(new Uint8Array(8));
  const hex = [...random].map((b) => b.toString(16).padStart(2, "0")).join("");
  const stamp = new Date().toISOString().slice(0, 19).replace(/[-:T]/g, "");
  return `web-${stamp}-${hex}`;
}

function showMessage(text) {
  message.textContent = text;
  message.hidden = !text;
}

function setStatus(item, status, label, detail = "") {
  item.status = status;
  item.row.dataset.state = status;
  item.badge.dataset.status = status;
  item.badge.textContent = label;
  item.detail.textContent = detail;
}

function updateTotal() {
  const size = items.reduce((sum, i) => sum + i.file.size, 0);
  const sent = items.reduce((sum, i) => sum + i.sent, 0);
  const done = items.filter((i) => i.final).length;
  totalBar.value = size ? sent / size : (items.length && done === items.length ? 1 : 0);
  totalText.textContent = `${bytes(sent)} / ${bytes(size)} · ${done}/${items.length} ${say("up_files")}`;
}

function problem(err) {
  // the server answers problem JSON ({"detail": ...}); tus wraps it in its own message
  const body = err?.originalResponse?.getBody?.();
  try {
    const parsed = JSON.parse(body);
    return parsed.detail || parsed.title || String(err);
  } catch {
    return body || String(err?.message ?? err);
  }
}

function uploadFor(item) {
  const wanted = { filename: item.file.name, batch: item.batch.id, ...item.batch.meta };
  if (item.path.includes("/")) wanted.relative_path = item.path; // a file of a folder
  // the server refuses keys it does not know: send those it lists (the page carries them)
  const metadata = Object.fromEntries(Object.entries(wanted).filter(([k]) => accepted.has(k)));
  return new tus.Upload(item.file, {
    endpoint: "/api/uploads/",
    chunkSize: CHUNK,
    retryDelays: [0, 1000, 3000, 5000, 10000],
    metadata,
    headers: { "X-CSRF-Token": csrf() },
    // resuming is within this page (pause/resume, retries); nothing kept in localStorage
    storeFingerprintForResuming: false,
    onUploadUrlAvailable() {
      item.row.dataset.upload = item.upload.url;
      item.batch.receipts.hidden = false; // the batch exists on the server now
    },
    onProgress(sent, total) {
      item.sent = sent;
      item.bar.value = total ? sent / total : 1;
      if (!paused) setStatus(item, "sending", say("up_sending"), `${bytes(sent)} / ${bytes(total)}`);
      updateTotal();
    },
    onSuccess() {
      item.sent = item.file.size;
      item.bar.value = 1;
      setStatus(item, "acquiring", say("up_acquiring"));
      updateTotal();
      pollReceipt(item, 0);
      next(item);
    },
    onError(err) {
      if (err?.originalResponse?.getStatus?.() === 401) {
        location.href = "/login?expired=1&next=" + encodeURIComponent(location.pathname);
        return;
      }
      item.final = true;
      setStatus(item, "error", say("up_error"), problem(err));
      updateTotal();
      next(item);
    },
  });
}

function next(finished) {
  if (active === finished) active = null;
  if (paused || active) return;
  const item = pending.shift();
  if (!item) {
    pauseButton.disabled = true;
    return;
  }
  active = item;
  item.upload = uploadFor(item);
  setStatus(item, "sending", say("up_sending"));
  item.upload.start();
}

function describe(entry) {
  const parts = [];
  if (entry.reason) parts.push(entry.reason);
  if (entry.sha256) parts.push(`sha256 ${entry.sha256.slice(0, 16)}…`);
  if (entry.recording_id) parts.push(`${entry.recording_id.slice(0, 8)}`);
  if (entry.duration_s) parts.push(`${entry.duration_s.toFixed(1)} s`);
  if (entry.incomplete && entry.missing?.length) parts.push(`missing: ${entry.missing.join(", ")}`);
  return parts.join(" · ");
}

async function pollReceipt(item, attempt) {
  let info = null;
  try {
    const response = await fetch(item.upload.url, { credentials: "same-origin", cache: "no-store" });
    if (response.status === 401) {
      location.href = "/login?expired=1&next=" + encodeURIComponent(location.pathname);
      return;
    }
    if (response.ok) info = await response.json();
  } catch {
    // the network blinked: ask again below
  }
  if (info?.state === "ingested" && info.receipt_entry) {
    const entry = info.receipt_entry;
    item.final = true;
    item.row.dataset.sha256 = entry.sha256 ?? "";
    setStatus(item, entry.status, say(`st_${entry.status}`), describe(entry));
    updateTotal();
    return;
  }
  if (info?.state === "failed") {
    item.final = true;
    setStatus(item, "failed", say("up_failed"), info.error ?? "");
    updateTotal();
    return;
  }
  setTimeout(() => pollReceipt(item, attempt + 1), POLL_MS[Math.min(attempt, POLL_MS.length - 1)]);
}

function receiptLinks(id) {
  const base = `/api/uploads/batches/${encodeURIComponent(id)}/receipt`;
  const links = el("p", { class: "receipts", hidden: "" }, `${say("up_receipt")}: `,
    el("a", { class: "receipt-csv", href: `${base}?format=csv`, download: "", text: "CSV" }),
    el("a", { class: "receipt-json", href: `${base}?format=json`, download: "", text: "JSON" }));
  return links;
}

function addBatch(found) {
  showMessage("");
  if (!caseSelect.value) {
    showMessage(say("up_need_case"));
    caseSelect.focus();
    return;
  }
  if (!found.length) return;
  const meta = { case: caseSelect.value };
  for (const name of META_FIELDS) {
    const value = form.elements[name].value.trim();
    if (value) meta[name] = value;
  }
  const batch = { id: batchId(), meta };
  batch.receipts = receiptLinks(batch.id);
  const list = el("div", { class: "files" });
  const section = el("section", { class: "batch", "data-batch": batch.id },
    el("h2", { text: `${say("up_batch")} ${batch.id} · ${meta.case} · ${found.length} ${say("up_files")}` }),
    batch.receipts, list);
  batchesEl.prepend(section);
  found.sort((a, b) => a.path.localeCompare(b.path));
  for (const { file, path } of found) {
    const item = { file, path, batch, sent: 0, final: false, upload: null, status: "waiting" };
    item.badge = el("span", { class: "badge" });
    item.bar = el("progress", { max: "1", value: "0", "aria-label": path });
    item.detail = el("span", { class: "detail" });
    item.row = el("div", { class: "file-row", "data-path": path },
      el("span", { class: "name", text: path }), item.badge, item.bar, item.detail);
    list.append(item.row);
    setStatus(item, "waiting", say("up_waiting"), bytes(file.size));
    items.push(item);
    pending.push(item);
  }
  pane.hidden = false;
  pauseButton.disabled = false;
  updateTotal();
  next(null);
}

pauseButton.addEventListener("click", async () => {
  paused = !paused;
  pauseButton.textContent = paused ? pauseButton.dataset.resume : pauseButton.dataset.pause;
  pauseButton.setAttribute("aria-pressed", String(paused));
  if (!active) {
    if (!paused) next(null);
    return;
  }
  if (paused) {
    setStatus(active, "paused", say("up_paused"), `${bytes(active.sent)} / ${bytes(active.file.size)}`);
    await active.upload.abort();
  } else {
    setStatus(active, "sending", say("up_sending"));
    active.upload.start(); // HEAD for the server's offset, then PATCH from there
  }
});

function picked(input) {
  const found = [...input.files].map((file) => ({ file, path: file.webkitRelativePath || file.name }));
  input.value = ""; // picking the same folder again is a new batch
  addBatch(found);
}

document.getElementById("files-input").addEventListener("change", (e) => picked(e.target));
document.getElementById("folder-input").addEventListener("change", (e) => picked(e.target));

// A dropped folder arrives as a directory entry: walk it for its files and their paths.
function readAll(reader) {
  return new Promise((resolve, reject) => reader.readEntries(resolve, reject));
}

async function walk(entry, prefix, out) {
  if (entry.isFile) {
    const file = await new Promise((resolve, reject) => entry.file(resolve, reject));
    out.push({ file, path: prefix + entry.name });
  } else if (entry.isDirectory) {
    const reader = entry.createReader();
    for (;;) { // readEntries answers in slices (100 at a time in Chromium) until empty
      const slice = await readAll(reader);
      if (!slice.length) break;
      for (const child of slice) await walk(child, `${prefix}${entry.name}/`, out);
    }
  }
}

dropZone.addEventListener("dragover", (e) => {
  e.preventDefault();
  dropZone.classList.add("over");
});
dropZone.addEventListener("dragleave", () => dropZone.classList.remove("over"));
dropZone.addEventListener("drop", async (e) => {
  e.preventDefault();
  dropZone.classList.remove("over");
  // entries must be taken during the event: the DataTransfer is emptied after it
  const entries = [...e.dataTransfer.items].map((i) => i.webkitGetAsEntry?.()).filter(Boolean);
  const plain = [...e.dataTransfer.files];
  const found = [];
  if (entries.length) {
    for (const entry of entries) await walk(entry, "", found);
  } else {
    for (const file of plain) found.push({ file, path: file.name });
  }
  addBatch(found);
});
// files dropped beside the zone would make the browser navigate away from the uploads
addEventListener("dragover", (e) => e.preventDefault());
addEventListener("drop", (e) => e.preventDefault());
addEventListener("beforeunload", (e) => {
  if (active || pending.length) e.preventDefault(); // leaving would stop the uploads
});
