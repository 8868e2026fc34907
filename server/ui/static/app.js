// Ringmaster's dashboard: the little the pages cannot do without a script.
// Forms marked data-api call the API's operation they name (the same
// checks and audit trail as any client), after a confirmation; an element
// marked data-events follows a campaign's server-sent events and keeps its
// counts, waves, buttons and the latest transitions up to date without a
// reload.
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
// caller's scope) and updates each wave's counts.
async function waves(url) {
  if (!document.getElementById("waves")) return;
  const res = await fetch(url, { credentials: "same-origin", headers: { "Accept": "application/json" } });
  if (!res.ok) return;
  const d = await res.json();
  // The table as it is now: controls may have put in another meanwhile.
  const table = document.getElementById("waves");
  for (const w of d.waves || []) {
    const row = table.querySelector('tr[data-wave="' + CSS.escape(w.name) + '"]');
    if (!row) continue;
    // A wave's status comes with the stream's waves event, read at once;
    // this summary may be a few seconds old.
    for (const [k, v] of Object.entries({ devices: w.devices, succeeded: w.states.succeeded, failed: w.states.failed, running: w.states.running })) {
      const td = row.querySelector('[data-field="' + k + '"]');
      if (td) td.textContent = v;
    }
  }
}

// controls re-reads the page and puts in its actions, waves, what waits
// and the failure reasons: the buttons a change of status offers or
// withdraws (approve a wave now awaiting approval, resume a paused
// campaign), when each wave started and why it and its devices wait. The server keeps a campaign's page for five seconds, so it
// is read once more after that.
async function controls() {
  const res = await fetch(window.location.href, { credentials: "same-origin", headers: { "Accept": "text/html" } });
  if (!res.ok) return;
  const doc = new DOMParser().parseFromString(await res.text(), "text/html");
  for (const id of ["actions", "waves", "waits", "reasons"]) {
    const cur = document.getElementById(id), next = doc.getElementById(id);
    if (!cur || !next) continue;
    // What the stream keeps up to date stays as it is (the page read may
    // be a few seconds old).
    for (const td of next.querySelectorAll("[data-field]")) {
      const now = cur.querySelector('tr[data-wave="' + CSS.escape(td.closest("tr").dataset.wave) + '"] [data-field="' + td.dataset.field + '"]');
      if (now) td.textContent = now.textContent;
    }
    const node = document.adoptNode(next);
    cur.replaceWith(node);
    for (const f of node.querySelectorAll("form[data-api]")) f.addEventListener("submit", (ev) => act(f, ev));
  }
}
controls.timers = [];
controls.soon = () => {
  for (const t of controls.timers) clearTimeout(t);
  controls.timers = [setTimeout(() => controls().catch(() => {}), 300), setTimeout(() => controls().catch(() => {}), 6000)];
};

function follow(el) {
  const src = new EventSource(el.dataset.events);
  const state = document.getElementById("live-state");
  const feed = document.getElementById("feed");
  // The waves' counts follow the campaign's, read at most every two
  // seconds; the API keeps a campaign's summary for five seconds, so they
  // are read once more six seconds after the last change.
  let due = 0, timer = null, settle = null;
  const read = () => {
    clearTimeout(timer);
    timer = null;
    due = Date.now() + 2000;
    if (el.dataset.campaign) waves(el.dataset.campaign).catch(() => {});
  };
  const refresh = () => {
    clearTimeout(settle);
    settle = setTimeout(read, 6000);
    if (!timer) timer = setTimeout(read, Math.max(0, due - Date.now()));
  };
  src.addEventListener("counts", refresh);
  // A wave's status changed (awaiting approval, halted, done): its row
  // and the buttons it offers are read again.
  src.addEventListener("waves", (e) => {
    const d = JSON.parse(e.data);
    const table = document.getElementById("waves");
    let changed = false;
    for (const w of d.waves || []) {
      const td = table && table.querySelector('tr[data-wave="' + CSS.escape(w.name) + '"] [data-field="status"]');
      if (td && td.textContent !== w.status) {
        td.textContent = w.status;
        changed = true;
      }
    }
    if (changed) controls.soon();
  });
  src.addEventListener("end", refresh);
  src.addEventListener("counts", (e) => {
    const c = JSON.parse(e.data);
    for (const [k, n] of Object.entries(c.states || {})) {
      const td = el.querySelector('[data-count="' + k + '"]');
      if (td) td.textContent = n;
    }
    const st = document.getElementById("campaign-status");
    if (st && c.status && st.textContent !== c.status) {
      st.textContent = c.status;
      controls.soon();
    }
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
  // The stream ends with the campaign: say so, and offer the final page.
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
