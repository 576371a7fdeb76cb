// What every panel that starts a job on the solve queue shares: JSON calls carrying the page's CSRF token, the
// API's errors in words (the message, then each field's fault), and following a job at GET /jobs/{id} until it
// ends, reporting its progress and stage on the way.
window.hubmatchJobs = (function () {
  "use strict";

  function faults(details) {
    if (Array.isArray(details)) return details.map((d) => (d.field ? `${d.field}: ${d.message}` : d.message || JSON.stringify(d)));
    const fields = details && typeof details === "object" ? details.json || details : {};
    return Object.entries(fields).map(([field, message]) => `${field}: ${[].concat(message).join(" ")}`);
  }

  async function call(method, url, body) {
    const headers = { Accept: "application/json", "X-CSRF-Token": document.querySelector('meta[name="csrf-token"]').content };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    const response = await fetch(url, {
      method, headers, credentials: "same-origin", body: body === undefined ? undefined : JSON.stringify(body),
    });
    const data = await response.json().catch(() => ({}));
    if (!response.ok) {
      const error = data.error || {};
      throw new Error([error.message || response.statusText, ...faults(error.details)].join(" · "));
    }
    return data;
  }

  // Poll the job every half second while it waits or runs, telling ``onStep`` each time; the finished job, or an
  // Error with the job's own message when it failed.
  async function follow(job, onStep) {
    while (job.state === "queued" || job.state === "running") {
      onStep(job);
      await new Promise((resolve) => setTimeout(resolve, 500));
      job = await call("GET", job.url);
    }
    if (job.state !== "succeeded") throw new Error(job.message || `the job ${job.state}`);
    return job;
  }

  // A queued job's words: where it waits, or what it is doing.
  function stage(job) {
    if (job.state === "queued") return `Waiting for a worker${job.position ? ` (place ${job.position} in the queue)` : ""}…`;
    return job.stage || "Working…";
  }

  return { call, follow, stage };
})();
