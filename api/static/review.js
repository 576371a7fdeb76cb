// Decisions from the review page go through the JSON API: If-Match with the proposal's ETag, a CSRF header
// (the page signs in with a cookie), and the answer updates the row in place.
(function () {
  "use strict";
  const csrf = document.querySelector('meta[name="csrf-token"]').content;
  const status = document.getElementById("status");

  function say(text, isError) {
    status.textContent = text;
    status.className = isError ? "status error" : "status";
  }

  async function call(url, body, etag) {
    const headers = { "Content-Type": "application/json", "X-CSRF-Token": csrf };
    if (etag) headers["If-Match"] = etag;
    const response = await fetch(url, { method: "POST", headers, body: JSON.stringify(body), credentials: "same-origin" });
    const data = await response.json().catch(() => ({}));
    if (!response.ok) throw new Error((data.error && data.error.message) || response.statusText);
    return { data, etag: response.headers.get("ETag") };
  }

  function show(box, proposal, etag) {
    box.dataset.state = proposal.state;
    box.dataset.etag = etag || `"${proposal.id}.${proposal.version}"`;
    const badge = box.querySelector('[data-role="state"]');
    badge.textContent = proposal.state;
    badge.className = `badge state-${proposal.state}`;
  }

  document.addEventListener("click", async (event) => {
    const button = event.target.closest("button[data-action]");
    if (!button) return;
    const box = button.closest(".proposal");
    const action = button.dataset.action;
    const body = { action };
    if (action === "reject") {
      body.reason = box.querySelector(".reason").value.trim();
      if (!body.reason) { say("Give a reason to reject.", true); box.querySelector(".reason").focus(); return; }
    }
    button.disabled = true;
    try {
      const { data, etag } = await call(`/proposals/${box.dataset.proposal}/decision`, body, box.dataset.etag);
      show(box, data, etag);
      say(`${data.school_id}: ${data.partner_id} ${data.state}.`, false);
    } catch (err) {
      say(`Not saved: ${err.message}`, true);
    } finally {
      button.disabled = false;
    }
  });

  document.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && event.target.classList.contains("reason")) {
      event.target.closest(".proposal").querySelector('button[data-action="reject"]').click();
    }
  });

  const batch = document.getElementById("approve-shown");
  if (batch) {
    batch.addEventListener("click", async () => {
      const boxes = [...document.querySelectorAll('.proposal[data-state="proposed"]')];
      if (!boxes.length) { say("Nothing undecided is shown.", false); return; }
      const decisions = boxes.map((box) => ({
        proposal: Number(box.dataset.proposal), action: "approve",
        version: Number(box.dataset.etag.replace(/"/g, "").split(".")[1]),
      }));
      batch.disabled = true;
      try {
        const { data } = await call(`/rounds/${batch.dataset.round}/decisions/batch`, { decisions });
        const byId = new Map(data.proposals.map((p) => [String(p.id), p]));
        boxes.forEach((box) => show(box, byId.get(box.dataset.proposal)));
        say(`${data.decided} proposals approved.`, false);
      } catch (err) {
        say(`Nothing approved: ${err.message}`, true);
      } finally {
        batch.disabled = false;
      }
    });
  }
})();
