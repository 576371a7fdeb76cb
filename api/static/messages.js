// The round page's Messages panel: what the publish sent, to whom, and what bounced, read from the JSON API
// (GET /rounds/{id}/messages) and refreshed while messages wait to go out.
(function () {
  "use strict";
  const panel = document.querySelector("section.messages[data-messages]");
  if (!panel) return;
  const rows = panel.querySelector('[data-role="rows"]');
  const counts = panel.querySelector('[data-role="counts"]');
  const WHO = { adviser: "Adviser", school: "School", employer: "Employer", coordinator: "Coordinator (digest)" };

  function cell(text) {
    const td = document.createElement("td");
    td.textContent = text == null ? "–" : String(text);
    return td;
  }

  function stateCell(message) {
    const td = document.createElement("td");
    const badge = document.createElement("span");
    badge.className = `badge state-${message.state}`;
    badge.textContent = message.state;
    td.append(badge);
    if (message.reason) td.append(` ${message.reason}`);
    return td;
  }

  function render(data) {
    const parts = Object.entries(data.counts).map(([state, n]) => `${n} ${state}`);
    counts.textContent = parts.length ? parts.join(" · ") : "This publish wrote to nobody (no pairing changed).";
    rows.replaceChildren(...data.items.map((m) => {
      const tr = document.createElement("tr");
      tr.dataset.state = m.state;
      tr.append(cell(`${WHO[m.kind] || m.kind} ${m.name} (${m.record_id})`), cell(m.email), cell(m.change),
        cell(m.subject + (m.has_invitation ? " (with an invitation)" : "")), stateCell(m));
      return tr;
    }));
    return data.items.some((m) => m.state === "pending" || m.state === "sending");
  }

  async function load() {
    try {
      const response = await fetch(panel.dataset.messages, { credentials: "same-origin" });
      const data = await response.json();
      if (!response.ok) throw new Error((data.error && data.error.message) || response.statusText);
      if (render(data)) setTimeout(load, 3000);
    } catch (error) {
      counts.textContent = `Could not read the messages: ${error.message}`;
    }
  }
  load();
})();
