// The case page: search what was said across the case's recordings (GET /api/search);
// each hit opens the clip at its time.
const form = document.getElementById("case-search");
const list = document.getElementById("case-hits");
const esc = (s) => String(s ?? "").replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

form?.addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const q = document.getElementById("case-q").value.trim();
  if (!q) return;
  const reason = document.getElementById("case-reason")?.value.trim() ?? "";
  const params = new URLSearchParams({ q, case: form.dataset.case });
  if (reason) params.set("reason", reason);
  const r = await fetch(`/api/search?${params}`, { credentials: "same-origin" });
  if (r.status === 401) { location.href = "/login?expired=1&next=" + encodeURIComponent(location.pathname); return; }
  const hits = r.ok ? await r.json() : [];
  list.innerHTML = "";
  if (!hits.length) { list.innerHTML = `<li class="hint">${esc(list.dataset.none)}</li>`; return; }
  for (const h of hits) {
    const when = `${Math.floor(h.start / 60)}:${String(Math.floor(h.start % 60)).padStart(2, "0")}`;
    const extra = reason ? `&reason=${encodeURIComponent(reason)}` : "";
    const li = document.createElement("li");
    li.className = "case-hit";
    li.innerHTML = `<a href="/recordings/${encodeURIComponent(h.recording_id)}?t=${h.start}${extra}">${esc(h.recording_id.slice(0, 8))} ${when}</a> ` +
      `${esc(h.snippet)}${h.doubtful ? " <em>?</em>" : ""}`;
    list.append(li);
  }
});
