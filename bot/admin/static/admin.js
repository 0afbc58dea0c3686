// Comptoir back office: small progressive enhancements. Every page works without them.
"use strict";

function csrfToken() {
  const field = document.querySelector('input[name="csrf_token"]');
  return field ? field.value : "";
}

// Forms that delete or publish ask first.
document.querySelectorAll("form[data-confirm]").forEach((form) => {
  form.addEventListener("submit", (event) => {
    if (!window.confirm(form.dataset.confirm)) event.preventDefault();
  });
});

// Markdown preview, rendered (and escaped) by the server.
document.querySelectorAll("textarea[data-preview]").forEach((area) => {
  const target = document.querySelector(area.dataset.preview);
  if (!target) return;
  let timer = null;
  area.addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(async () => {
      const body = new URLSearchParams({ body: area.value, csrf_token: csrfToken() });
      try {
        const response = await fetch("/kb/preview", { method: "POST", body, credentials: "same-origin" });
        if (response.ok) target.innerHTML = await response.text();
      } catch (error) {
        /* offline: keep the last preview */
      }
    }, 300);
  });
});

// Training progress: poll the running run, reload the page when it ends.
document.querySelectorAll('tr[data-status="running"]').forEach((row) => {
  const bar = row.querySelector("progress");
  const stage = row.querySelector(".run-stage");
  const poll = async () => {
    try {
      const response = await fetch(`/training/runs/${row.dataset.run}`, { credentials: "same-origin" });
      const run = await response.json();
      if (bar) bar.value = run.progress;
      if (stage) stage.textContent = run.stage;
      if (run.status !== "running") {
        window.location.reload();
        return;
      }
    } catch (error) {
      /* try again */
    }
    setTimeout(poll, 1000);
  };
  setTimeout(poll, 1000);
});

// A transcript follows the conversation: new messages are announced (never a surprise
// reload under the cursor), and the header's hand-off count stays current.
const transcript = document.querySelector("#transcript[data-latest]");
if (transcript) {
  const lastShown = Number(transcript.dataset.lastId);
  const banner = document.getElementById("new-messages");
  const badge = document.querySelector("#handoff-count .badge");
  const poll = async () => {
    try {
      const response = await fetch(transcript.dataset.latest, { credentials: "same-origin" });
      if (response.ok) {
        const state = await response.json();
        if (badge) {
          badge.textContent = state.open_handoffs;
          badge.classList.toggle("hot", state.open_handoffs > 0);
        }
        if (state.last_id > lastShown && banner) banner.hidden = false;
      }
    } catch (error) {
      /* offline for a moment: try again */
    }
    setTimeout(poll, 5000);
  };
  setTimeout(poll, 5000);
}
