// Ringmaster's dashboard: the little the pages cannot do without a script.
// Forms marked data-api call the API's operation they name (the same
// checks and audit trail as any client), after a confirmation; an element
// marked data-events follows a campaign's server-sent events and keeps its
// counts and the latest transitions up to date without a reload.
"use strict";

function say(text, bad) {
  const s = document.getElementById("status");
  if (!s) return;
  s.textContent = text;
  s.classList.toggle("bad", !!bad);
}

async function act(form, ev) {
  ev.preventDefault();
  if (form.dataset.confirm && !window.confirm(form.dataset.confirm)) return;
  const body = {};
  for (const [k, v] of new FormData(form)) body[k] = v;
  for (const b of form.querySelectorAll("button")) b.disabled = true;
  say("Working…");
  try {
    const res = await fetch(form.dataset.api, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "Accept": "application/json" },
      body: JSON.stringify(body),
    });
    const text = await res.text();
    let doc = {};
    try { doc = JSON.parse(text); } catch (_) { /* not JSON */ }
    if (!res.ok) {
      say((doc.title || res.statusText) + ": " + (doc.detail || text), true);
      for (const b of form.querySelectorAll("button")) b.disabled = false;
      return;
    }
    if (form.dataset.then && doc.name) {
      window.location.assign(form.dataset.then + encodeURIComponent(doc.name));
      return;
    }
    say("Done. Reloading…");
    window.location.reload();
  } catch (e) {
    say("The server could not be reached: " + e, true);
    for (const b of form.querySelectorAll("button")) b.disabled = false;
  }
}

// waves re-reads the campaign (its JSON, as the API gives it to the
// caller's scope) and updates each wave's row: status and counts.
async function waves(url) {
  const table = document.getElementById("waves");
  if (!table) return;
  const res = await fetch(url, { credentials: "same-origin", headers: { "Accept": "application/json" } });
  if (!res.ok) return;
  const d = await res.json();
  for (const w of d.waves || []) {
    const row = table.querySelector('tr[data-wave="' + CSS.escape(w.name) + '"]');
    if (!row) continue;
    for (const [k, v] of Object.entries({ status: w.status, devices: w.devices, succeeded: w.states.succeeded, failed: w.states.failed, running: w.states.running })) {
      const td = row.querySelector('[data-field="' + k + '"]');
      if (td) td.textContent = v;
    }
  }
}

function follow(el) {
  const src = new EventSource(el.dataset.events);
  const state = document.getElementById("live-state");
  const feed = document.getElementById("feed");
  // The waves follow the counts, read at most every two seconds and once
  // more after the last change; the API keeps a campaign's summary for
  // five seconds, so the end is read again after that.
  let due = 0, timer = null;
  const refresh = () => {
    if (!el.dataset.campaign || timer) return;
    timer = setTimeout(() => {
      timer = null;
      due = Date.now() + 2000;
      waves(el.dataset.campaign).catch(() => {});
    }, Math.max(0, due - Date.now()));
  };
  src.addEventListener("counts", refresh);
  src.addEventListener("end", () => { refresh(); setTimeout(refresh, 6000); });
  src.addEventListener("counts", (e) => {
    const c = JSON.parse(e.data);
    for (const [k, n] of Object.entries(c.states || {})) {
      const td = el.querySelector('[data-count="' + k + '"]');
      if (td) td.textContent = n;
    }
    const st = document.getElementById("campaign-status");
    if (st && c.status) st.textContent = c.status;
    if (state) state.textContent = "Counts are live: updated " + new Date().toLocaleTimeString() + ".";
  });
  src.addEventListener("transition", (e) => {
    if (!feed) return;
    const t = JSON.parse(e.data);
    const li = document.createElement("li");
    li.textContent = new Date(t.at).toLocaleTimeString() + " " + t.hostname + " (" + t.org + "): " + t.from + " → " + t.to + (t.reason ? " (" + t.reason + ")" : "");
    feed.prepend(li);
    while (feed.children.length > 50) feed.lastElementChild.remove();
  });
  // The stream ends with the campaign: the rest of the page (waves,
  // buttons) is as it was loaded, so say so and offer the final state.
  src.addEventListener("end", (e) => {
    src.close();
    const d = JSON.parse(e.data);
    if (!state) return;
    state.textContent = "The campaign has ended (" + (d.status || "") + "). ";
    const a = document.createElement("a");
    a.href = window.location.pathname;
    a.textContent = "Show its final waves";
    state.append(a);
  });
  src.onerror = () => {
    if (state && src.readyState !== EventSource.CLOSED) state.textContent = "Live updates interrupted; retrying…";
  };
}

document.addEventListener("DOMContentLoaded", () => {
  for (const f of document.querySelectorAll("form[data-api]")) f.addEventListener("submit", (ev) => act(f, ev));
  for (const el of document.querySelectorAll("[data-events]")) follow(el);
});
