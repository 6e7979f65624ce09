// The jobs page: the caller's visible jobs, live over server-sent events from
// /api/jobs/events. Each `jobs` event carries the whole list; rows are kept per job id and
// updated in place. The server ends each stream after a while (or at once when nothing is
// moving); EventSource reconnects by itself after the `retry:` delay the server sent.

const strings = JSON.parse(document.getElementById("jobs-strings").textContent);
const say = (key) => strings[key] ?? key;
const list = document.getElementById("job-list");
const none = document.getElementById("jobs-none");
const live = document.getElementById("jobs-live");
const rows = new Map(); // job id -> its elements

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (key === "text") node.textContent = value;
    else node.setAttribute(key, value);
  }
  node.append(...children);
  return node;
}

function rowFor(job) {
  let row = rows.get(job.id);
  if (row) return row;
  row = {
    name: el("span", { class: "name" }),
    badge: el("span", { class: "badge" }),
    bar: el("progress", { max: "1", value: "0" }),
    detail: el("span", { class: "detail" }),
    error: el("span", { class: "error-text", hidden: "" }),
  };
  row.bar.setAttribute("aria-label", `${job.recording_name} ${job.stage}`);
  row.root = el("div", { class: "job", "data-job": job.id, "data-recording": job.recording_id },
    row.name, row.badge, row.bar, row.detail, row.error);
  rows.set(job.id, row);
  return row;
}

function when(iso) {
  const date = iso ? new Date(iso) : null;
  return date && !Number.isNaN(date.getTime()) ? date.toLocaleString(document.documentElement.lang || undefined) : "";
}

let shown = [];
function show(jobs) {
  shown = jobs;
  // newest first: what was just uploaded is at the top
  const ordered = [...jobs].sort((a, b) => (a.created_at < b.created_at ? 1 : a.created_at > b.created_at ? -1 : 0));
  const keep = new Set();
  for (const job of ordered) {
    const row = rowFor(job);
    keep.add(job.id);
    row.root.dataset.status = job.status;
    row.name.textContent = `${job.recording_name} · ${say("jobs_stage")}: ${job.stage}`;
    row.badge.dataset.status = job.status;
    row.badge.textContent = say(`js_${job.status}`);
    row.bar.value = job.status === "done" ? 1 : Math.max(0, Math.min(1, job.progress ?? 0));
    row.bar.title = `${say("jobs_progress")} ${Math.round(row.bar.value * 100)}%`;
    const parts = [`${Math.round(row.bar.value * 100)}%`, `${say("jobs_attempts")}: ${job.attempts}`];
    const seconds = job.status === "running" && job.started_at
      ? Math.max(0, (Date.now() - Date.parse(job.started_at)) / 1000) // the server sends a
      : job.seconds; //                      running job's time only when something changes
    if (seconds != null) parts.push(`${seconds.toFixed(job.status === "running" ? 0 : 1)} s`);
    const at = when(job.finished_at || job.started_at || job.created_at);
    if (at) parts.push(at);
    if (job.worker) parts.push(job.worker);
    row.detail.textContent = parts.join(" · ");
    const failed = job.error && (job.status === "failed" || job.status === "retrying");
    row.error.hidden = !failed;
    row.error.textContent = failed ? `${say("jobs_error")}: ${job.error}` : "";
    list.append(row.root); // append moves an existing row: the list follows `ordered`
  }
  for (const [id, row] of rows) {
    if (!keep.has(id)) { row.root.remove(); rows.delete(id); }
  }
  none.hidden = ordered.length > 0;
}

let downTimer = null;
function status(up) {
  // A stream that ends is the normal way (the server bounds each one): only say
  // "reconnecting" when the next one has not opened within a few seconds.
  clearTimeout(downTimer);
  const mark = (ok) => {
    live.textContent = ok ? `● ${live.dataset.live}` : live.dataset.reconnecting;
    live.classList.toggle("down", !ok);
  };
  if (up) mark(true);
  else downTimer = setTimeout(() => mark(false), 6000);
}

const source = new EventSource("/api/jobs/events");
source.addEventListener("open", () => status(true));
source.addEventListener("jobs", (event) => {
  status(true);
  show(JSON.parse(event.data));
});
source.addEventListener("error", async () => {
  status(false);
  if (source.readyState !== EventSource.CLOSED) return; // it reconnects by itself
  // closed for good: the server refused the stream; a lapsed session goes back to login
  const me = await fetch("/api/users/me", { credentials: "same-origin" }).catch(() => null);
  if (me?.status === 401) location.href = "/login?expired=1&next=" + encodeURIComponent(location.pathname);
});
// a running job's elapsed time goes on between events
setInterval(() => { if (shown.some((j) => j.status === "running")) show(shown); }, 1000);
