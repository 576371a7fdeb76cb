// The Hub Lead's panel: solve or re-solve with the job's progress and stage, publish after a confirmation, and
// the policy saved through the API (PATCH /rounds/{id}). Messages are written beside the button pressed.
(function () {
  "use strict";
  const panel = document.getElementById("hub-lead");
  if (!panel) return;
  const csrf = document.querySelector('meta[name="csrf-token"]').content;
  const roundId = panel.dataset.round;
  const note = document.getElementById("lead-note");

  async function call(method, url, body) {
    const headers = { "X-CSRF-Token": csrf, Accept: "application/json" };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    const response = await fetch(url, {
      method, headers, credentials: "same-origin", body: body === undefined ? undefined : JSON.stringify(body),
    });
    const data = await response.json().catch(() => ({}));
    if (!response.ok) {
      const error = data.error || {};
      const details = error.details && typeof error.details === "object" ? JSON.stringify(error.details) : "";
      throw new Error(`${error.message || response.statusText}${details && details !== "{}" ? ` ${details}` : ""}`);
    }
    return data;
  }

  function say(where, text, isError) {
    where.textContent = text;
    where.classList.toggle("error", Boolean(isError));
  }

  // Follow a job until it is over: its progress bar and stage, then a reload to show the new proposals.
  async function follow(url) {
    const box = document.getElementById("job");
    const bar = document.getElementById("job-progress");
    const stage = document.getElementById("job-stage");
    box.hidden = false;
    for (;;) {
      const job = await call("GET", url);
      bar.value = job.progress || 0;
      stage.textContent = `${job.stage || job.state}${job.position ? ` (place ${job.position} in the queue)` : ""}`;
      if (job.state === "succeeded") { say(note, "Solved: loading the new proposals…", false); window.location.reload(); return; }
      if (job.state === "failed" || job.state === "cancelled") { say(note, `The solve ${job.state}: ${job.message}`, true); return; }
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
  }

  const solve = document.getElementById("solve");
  if (solve) {
    solve.addEventListener("click", async () => {
      if (solve.getAttribute("aria-disabled") === "true") return;
      const again = Number(document.getElementById("review").dataset.solves) > 0;
      if (again && !(await window.hubmatchConfirm("Solve the round again? Approved and locked pairings are kept, "
        + "rejected ones are never proposed again; every other proposal is replaced.", "Solve again"))) return;
      solve.setAttribute("aria-disabled", "true");
      say(note, "Solve queued…", false);
      try {
        const job = await call("POST", `/rounds/${roundId}/solve`);
        await follow(job.url);
      } catch (err) {
        say(note, `Not started: ${err.message}`, true);
      } finally {
        solve.removeAttribute("aria-disabled");
      }
    });
  }
  const running = document.getElementById("job").dataset.job;
  if (running) follow(`/jobs/${running}`).catch((err) => say(note, err.message, true));

  const publish = document.getElementById("publish");
  if (publish) {
    publish.addEventListener("click", async () => {
      const undecided = Number(publish.dataset.undecided);
      if (undecided) { say(note, `${undecided} pairings are still undecided: decide every pairing before publishing.`, true); return; }
      if (!(await window.hubmatchConfirm("Publish the round? Its kept pairings become the schools' current partners.", "Publish"))) return;
      try {
        await call("POST", `/rounds/${roundId}/publish`);
        say(note, "Published.", false);
        window.location.reload();
      } catch (err) {
        say(note, `Not published: ${err.message}`, true);
      }
    });
  }

  const form = document.getElementById("policy-form");
  if (form) {
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const policy = JSON.parse(form.dataset.policy);
      policy.weights = { ...(policy.weights || {}) };
      form.querySelectorAll("input").forEach((input) => {
        const [name, sub] = input.name.split(".");
        const value = input.type === "checkbox" ? input.checked : (input.value === "" ? null : Number(input.value));
        if (sub) policy[name][sub] = value; else policy[name] = value;
      });
      const where = document.getElementById("policy-note");
      try {
        const round = await call("PATCH", `/rounds/${roundId}`, { policy });
        form.dataset.policy = JSON.stringify(round.policy);
        say(where, "Policy saved; it applies to the next solve.", false);
      } catch (err) {
        say(where, `Not saved: ${err.message}`, true);
      }
    });
  }
})();
