// Progressive enhancements: confirmations and live job progress. Every page works without them.
"use strict";
document.addEventListener("submit", (event) => {
  const button = event.submitter;
  const question = button && button.dataset.confirm;
  if (question && !window.confirm(question)) { event.preventDefault(); return; }
  // A second confirmation for a checked risk (a backup's configuration from elsewhere).
  for (const box of event.target.querySelectorAll("input[type=checkbox][data-confirm]:checked")) {
    if (!window.confirm(box.dataset.confirm)) { event.preventDefault(); return; }
  }
});
document.addEventListener("DOMContentLoaded", () => {
  const job = document.querySelector(".job[data-job]");
  if (!job || job.dataset.state !== "running") return;
  const log = document.getElementById("job-log");
  const bar = document.getElementById("job-progress");
  const status = document.getElementById("job-status");
  const state = document.getElementById("job-state");
  const source = new EventSource("/updates/events?job=" + encodeURIComponent(job.dataset.job) +
    "&from=" + log.dataset.offset);
  source.addEventListener("log", (e) => { log.textContent += e.data + "\n"; log.scrollTop = log.scrollHeight; });
  source.addEventListener("progress", (e) => {
    const p = JSON.parse(e.data);
    bar.value = p.percent; status.textContent = p.status;
  });
  source.addEventListener("state", (e) => {
    state.textContent = e.data; state.className = "state " + e.data;
    if (e.data !== "running") { source.close(); bar.value = 100; setTimeout(() => location.reload(), 800); }
  });
});
