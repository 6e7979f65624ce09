// Dates and times in the user's own time zone: every <time datetime="ISO"> is rewritten.
const lang = document.documentElement.lang || undefined;
for (const el of document.querySelectorAll("time[datetime]")) {
  const when = new Date(el.getAttribute("datetime"));
  if (!Number.isNaN(when.getTime())) {
    el.title = el.getAttribute("datetime");
    el.textContent = when.toLocaleString(lang);
  }
}
