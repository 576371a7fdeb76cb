// Decisions from the review page go through the JSON API: If-Match with the proposal's ETag, a CSRF header
// (the page signs in with a cookie). Feedback stays where the coordinator is looking: the row changes in place,
// its message is written beside it, focus stays on the button pressed (aria-disabled, never disabled, while a
// call is out), and the summary and map are rendered again by the server and swapped in.
(function () {
  "use strict";
  const root = document.getElementById("review");
  if (!root) return;
  const csrf = document.querySelector('meta[name="csrf-token"]').content;
  const roundId = root.dataset.round;
  const dialog = document.getElementById("confirm");

  class ApiError extends Error {
    constructor(status, error) {
      super((error && error.message) || `HTTP ${status}`);
      this.status = status;
      this.details = (error && error.details) || {};
    }
  }

  async function call(method, url, body, etag) {
    const headers = { "X-CSRF-Token": csrf, Accept: "application/json" };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    if (etag) headers["If-Match"] = etag;
    const response = await fetch(url, {
      method, headers, credentials: "same-origin", body: body === undefined ? undefined : JSON.stringify(body),
    });
    const data = await response.json().catch(() => ({}));
    if (!response.ok) throw new ApiError(response.status, data.error);
    return { data, etag: response.headers.get("ETag") };
  }

  function note(box, text, isError) {
    const where = box.querySelector(".note");
    where.textContent = text;
    where.classList.toggle("error", Boolean(isError));
  }

  function when(iso) {
    if (!iso) return "";
    const d = new Date(/[zZ]|[+-]\d\d:?\d\d$/.test(iso) ? iso : `${iso}Z`);
    const month = d.toLocaleString("en-GB", { month: "short", timeZone: "UTC" });
    const time = d.toLocaleString("en-GB", { hour: "2-digit", minute: "2-digit", hour12: false, timeZone: "UTC" });
    return `${d.getUTCDate()} ${month} ${time}`;
  }

  function show(box, proposal, etag) {
    box.dataset.state = proposal.state;
    box.dataset.etag = etag || `"${proposal.id}.${proposal.version}"`;
    const badge = box.querySelector('[data-role="state"]');
    badge.textContent = proposal.state;
    badge.className = `badge state-${proposal.state}`;
    box.querySelector('[data-role="decided"]').textContent = proposal.decided_by
      ? `${proposal.state} by ${proposal.decided_by} · ${when(proposal.decided_at)}` : "";
  }

  // Ask before something hard to undo; resolves true when the user goes ahead. A <dialog> keeps it accessible.
  function confirmed(text, okLabel) {
    return new Promise((resolve) => {
      const before = document.activeElement;
      document.getElementById("confirm-text").textContent = text;
      document.getElementById("confirm-ok").textContent = okLabel;
      dialog.returnValue = "";
      dialog.addEventListener("close", () => {
        if (before && before.focus) before.focus();
        resolve(dialog.returnValue === "ok");
      }, { once: true });
      dialog.showModal();
    });
  }

  window.hubmatchConfirm = confirmed; // the Hub Lead's panel asks with the same dialog

  window.hubmatchRefreshMap = refreshParts; // the recruitment-gaps panel redraws the map with its layer

  async function refreshParts() {
    const params = new URLSearchParams({ show: root.dataset.show, page: root.dataset.page });
    const gaps = document.getElementById("map-box").dataset.gaps; // a Hub Lead's recruitment layer stays drawn
    if (gaps) params.set("gaps", gaps);
    try {
      const { data } = await call("GET", `/ui/rounds/${roundId}/live?${params}`);
      document.getElementById("summary").innerHTML = data.summary;
      document.getElementById("map-box").innerHTML = data.map;
      document.dispatchEvent(new CustomEvent("hubmatch:map"));
      if (String(data.solves) !== root.dataset.solves || data.state !== root.dataset.state) stale(data);
    } catch (err) {
      /* the decision itself is saved; the summary catches up on the next one */
    }
  }

  // The round was solved again (or published) since the page was opened: its proposals are not the page's.
  function stale(round) {
    const banner = document.getElementById("stale");
    banner.querySelector(".stale-text").textContent = round.solves !== Number(root.dataset.solves)
      ? `This round was solved again (solve ${round.solves}) since you opened the page: the pairings shown are out of date.`
      : `This round is now ${round.state}: the page is out of date.`;
    banner.hidden = false;
  }

  async function checkStale() {
    try {
      const { data } = await call("GET", `/rounds/${roundId}`);
      if (String(data.solves) !== root.dataset.solves || data.state !== root.dataset.state) { stale(data); return true; }
    } catch (err) { /* nothing more to say than the error itself */ }
    return false;
  }

  async function reread(box) {
    const { data, etag } = await call("GET", `/proposals/${box.dataset.proposal}`);
    show(box, data, etag);
    return data;
  }

  async function decide(button) {
    const box = button.closest(".proposal");
    const action = button.dataset.action;
    const body = { action };
    if (action === "reject") {
      body.reason = box.querySelector(".reason").value.trim();
      if (!body.reason) { note(box, "Give a reason to reject.", true); box.querySelector(".reason").focus(); return; }
    }
    if (box.dataset.state === "locked" && action !== "lock"
        && !(await confirmed(`${box.dataset.label} is locked. Unlock it and ${action} it instead?`, `Unlock and ${action}`))) {
      note(box, "Kept locked.", false);
      return;
    }
    button.setAttribute("aria-disabled", "true");
    note(box, "Saving…", false);
    try {
      const { data, etag } = await call("POST", `/proposals/${box.dataset.proposal}/decision`, body, box.dataset.etag);
      show(box, data, etag);
      note(box, `Saved: ${data.state}.`, false);
      refreshParts();
    } catch (err) {
      if (err.status === 412) {
        const now = await reread(box).catch(() => null);
        note(box, now ? `Not saved: ${now.decided_by || "someone"} changed it since you read it (now ${now.state}). Decide again if you still want to.`
          : `Not saved: ${err.message}`, true);
      } else if (err.status === 404 && await checkStale()) {
        note(box, "Not saved: this pairing is no longer in the round. Reload the page.", true);
      } else {
        note(box, `Not saved: ${err.message}`, true);
        checkStale();
      }
    } finally {
      button.removeAttribute("aria-disabled");
    }
  }

  document.addEventListener("click", (event) => {
    const button = event.target.closest("button[data-action]");
    if (!button || button.getAttribute("aria-disabled") === "true") return;
    decide(button);
  });

  function nextUndecided() {
    const boxes = [...document.querySelectorAll('.proposal[data-state="proposed"]')];
    if (!boxes.length) { batchNote("No undecided pairing on this page.", false); return; }
    const here = document.activeElement && document.activeElement.closest && document.activeElement.closest(".proposal");
    const after = here ? boxes.find((b) => here.compareDocumentPosition(b) & Node.DOCUMENT_POSITION_FOLLOWING) : null;
    const target = (after || boxes[0]).querySelector('button[data-action="approve"]');
    target.scrollIntoView({ block: "center" });
    target.focus();
  }

  document.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && event.target.classList.contains("reason")) {
      event.target.closest(".proposal").querySelector('button[data-action="reject"]').click();
      return;
    }
    const typing = event.target.closest && event.target.closest("input, textarea, select, [contenteditable]");
    if (event.key === "n" && !typing && !event.ctrlKey && !event.metaKey && !event.altKey && !dialog.open) {
      event.preventDefault();
      nextUndecided();
    }
  });
  const next = document.getElementById("next-undecided");
  if (next) next.addEventListener("click", nextUndecided);
  document.getElementById("reload").addEventListener("click", () => window.location.reload());
  document.addEventListener("visibilitychange", () => { if (document.visibilityState === "visible") checkStale(); });

  function batchNote(text, isError) {
    const where = document.getElementById("batch-note");
    if (!where) return;
    where.textContent = text;
    where.classList.toggle("error", Boolean(isError));
  }

  const batch = document.getElementById("approve-shown");
  if (batch) {
    batch.addEventListener("click", async () => {
      if (batch.getAttribute("aria-disabled") === "true") return;
      const boxes = [...document.querySelectorAll('.proposal[data-picked][data-state="proposed"]')];
      if (!boxes.length) { batchNote("Nothing undecided is shown.", false); return; }
      const filter = document.querySelector(".filters .current").textContent.trim();
      const many = boxes.length === 1 ? "1 undecided pairing" : `${boxes.length} undecided pairings`;
      if (!(await confirmed(`Approve ${many} shown under “${filter}”? Pairings outside the filter are left as they are.`,
        `Approve ${boxes.length}`))) { batchNote("Nothing approved.", false); return; }
      const decisions = boxes.map((box) => ({
        proposal: Number(box.dataset.proposal), action: "approve",
        version: Number(box.dataset.etag.replace(/"/g, "").split(".")[1]),
      }));
      batch.setAttribute("aria-disabled", "true");
      try {
        const { data } = await call("POST", `/rounds/${roundId}/decisions/batch`, { decisions });
        const byId = new Map(data.proposals.map((p) => [String(p.id), p]));
        boxes.forEach((box) => { show(box, byId.get(box.dataset.proposal)); note(box, "Saved: approved.", false); });
        batchNote(`${data.decided} pairings approved.`, false);
        refreshParts();
      } catch (err) {
        const staleIds = (err.details.stale || []).map(String);
        const changed = boxes.filter((box) => staleIds.includes(box.dataset.proposal));
        if (changed.length) {
          await Promise.all(changed.map(async (box) => {
            const now = await reread(box).catch(() => null);
            note(box, now ? `Changed since you read it: now ${now.state}${now.decided_by ? ` by ${now.decided_by}` : ""}.` : "Changed since you read it.", true);
          }));
          batchNote(`Nothing approved: ${changed.map((b) => b.dataset.label).join("; ")} changed since you read ${changed.length === 1 ? "it" : "them"}. `
            + "Refreshed; approve again to go on.", true);
        } else {
          batchNote(`Nothing approved: ${err.message}`, true);
          checkStale();
        }
      } finally {
        batch.removeAttribute("aria-disabled");
      }
    });
  }
})();
