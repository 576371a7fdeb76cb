// The "Which policy" panel: starts a compare job through the JSON API (POST /rounds/{id}/compare), follows it at
// GET /jobs/{id} with its progress, and renders the side-by-side table the job returns (its rows are computed on
// the server, so the page and `hubmatch compare` show the same figures).
(function () {
  "use strict";
  const panel = document.querySelector("section.compare");
  if (!panel || !document.getElementById("compare-form")) return;
  const form = document.getElementById("compare-form");
  const stage = document.getElementById("compare-stage");
  const bar = document.getElementById("compare-progress");
  const button = document.getElementById("compare-start");
  const other = document.getElementById("compare-other");
  const roundId = Number(panel.dataset.round);

  function say(text, isError) {
    stage.textContent = text;
    stage.className = isError ? "error" : "hint";
  }


  async function fillRounds() {
    try {
      const rounds = await window.hubmatchJobs.call("GET", `/hubs/${encodeURIComponent(panel.dataset.hub)}/rounds`);
      rounds.filter((r) => r.id !== roundId && r.solves > 0).forEach((r) => {
        const option = document.createElement("option");
        option.value = r.id;
        option.textContent = `${r.term} (round ${r.id}, ${r.state})`;
        other.append(option);
      });
    } catch (err) {
      say(`Other rounds could not be listed: ${err.message}`, true);
    }
  }

  function number(input) {
    return input.value.trim() === "" ? null : Number(input.value);
  }

  // Only what the Hub Lead changed goes in the policy change: the rest stays the round's own.
  function policyChange() {
    const change = {};
    for (const name of ["default_max_travel_km", "max_schools_per_company", "advisers_per_school"]) {
      const input = form.elements[name];
      if (input.value.trim() !== input.dataset.was) change[name] = number(input);
    }
    const college = form.elements.college_advisers;
    if (college.value.trim() !== college.dataset.was) {
      change.kinds = { college: { advisers_per_school: number(college) } };
    }
    return change;
  }

  function cell(tag, text, scope) {
    const element = document.createElement(tag);
    element.textContent = text == null ? "" : text;
    if (scope) element.scope = scope;
    return element;
  }

  function list(id, schools) {
    const target = document.getElementById(id);
    target.replaceChildren(...(schools.length ? schools : [null]).map((s) => cell("li", s
      ? `${s.name} (${s.school}): ${s.role === "adviser" ? "an adviser" : "a Cornerstone"}` : "none")));
  }

  function render(result) {
    document.getElementById("compare-a").textContent = result.a.label;
    document.getElementById("compare-b").textContent = result.b.label;
    document.getElementById("compare-caption").textContent = `${result.a.label} against ${result.b.label}`;
    document.getElementById("compare-rows").replaceChildren(...result.rows.map((row) => {
      const tr = document.createElement("tr");
      tr.append(cell("th", row.label, "row"), cell("td", row.a), cell("td", row.b), cell("td", row.change));
      return tr;
    }));
    list("compare-gained", result.gained);
    list("compare-lost", result.lost);
    document.getElementById("compare-result").hidden = false;
  }

  function follow(job) {
    return window.hubmatchJobs.follow(job, (now) => {
      bar.value = now.progress || 0;
      say(window.hubmatchJobs.stage(now), false);
    });
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const body = other.value ? { other_round: Number(other.value) } : { policy: policyChange() };
    button.disabled = true;
    bar.hidden = false;
    bar.value = 0;
    say("Starting…", false);
    try {
      const started = await window.hubmatchJobs.call("POST", `/rounds/${roundId}/compare?wait=20`, body);
      const job = await follow(started);
      render(job.result);
      say("Done.", false);
    } catch (err) {
      say(`Not compared: ${err.message}`, true);
    } finally {
      button.disabled = false;
      bar.hidden = true;
    }
  });

  fillRounds();
})();
