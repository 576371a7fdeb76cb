// The "Where to recruit" panel: starts a gaps job through the JSON API (POST /rounds/{id}/gaps), follows it at
// GET /jobs/{id} with its progress, lists the ranked places of each role and redraws the round's map with them
// (the page's map through /ui/rounds/{id}/live?gaps=JOB; the downloadable one is map.svg?gaps=JOB).
(function () {
  "use strict";
  const panel = document.querySelector("section.gaps");
  if (!panel || !document.getElementById("gaps-form")) return;
  const form = document.getElementById("gaps-form");
  const stage = document.getElementById("gaps-stage");
  const bar = document.getElementById("gaps-progress");
  const button = document.getElementById("gaps-start");
  const roundId = Number(panel.dataset.round);
  const nouns = { adviser: "Advisers", cornerstone: "Cornerstone Employers" };

  function say(text, isError) {
    stage.textContent = text;
    stage.className = isError ? "error" : "hint";
  }


  // Only the fields the Hub Lead filled in go in the request: the rest take the hub's and the policy's defaults.
  function request() {
    const body = { role: form.elements.role.value, ranking: form.elements.ranking.value };
    for (const name of ["capacity", "employer_capacity", "radius_km", "top"]) {
      const value = form.elements[name].value.trim();
      if (value !== "") body[name] = Number(value);
    }
    return body;
  }

  function cell(tag, text) {
    const element = document.createElement(tag);
    element.textContent = text == null ? "" : String(text);
    return element;
  }

  function table(search) {
    const wrap = document.createElement("div");
    const r = search.recruit;
    wrap.append(cell("h3", `${nouns[search.role]}: ${search.schools_without.length} schools without one`));
    wrap.append(cell("p", `A recruit taking ${r.capacity} within ${r.max_travel_km} km; ` +
      (search.ranking === "sequence" ? "each place given the recruits above it." : "each place on its own.")));
    if (!search.places.length) {
      wrap.append(cell("p", "No place where one recruit would give another school a partner."));
      return wrap;
    }
    const t = document.createElement("table");
    t.className = "gaps-places";
    const head = document.createElement("tr");
    ["#", "Near", "Position", "More schools", "Its schools"].forEach((h) => head.append(cell("th", h)));
    t.append(head);
    for (const p of search.places) {
      const tr = document.createElement("tr");
      tr.append(cell("td", p.rank), cell("td", p.town), cell("td", `${p.lat.toFixed(3)}, ${p.lon.toFixed(3)}`),
        cell("td", p.covers), cell("td", p.schools.map((s) => `${s.name} (${s.distance_km} km)`).join("; ")));
      tr.className = `gap-${search.role}`;
      t.append(tr);
    }
    wrap.append(t);
    return wrap;
  }

  function follow(job) {
    return window.hubmatchJobs.follow(job, (now) => {
      bar.value = now.progress || 0;
      say(window.hubmatchJobs.stage(now), false);
    });
  }

  function show(job) {
    document.getElementById("gaps-lists").replaceChildren(
      ...["adviser", "cornerstone"].filter((role) => job.result[role]).map((role) => table(job.result[role])));
    const url = `${panel.dataset.map}?gaps=${job.id}`;
    document.getElementById("gaps-map-link").href = url;
    document.getElementById("map-box").dataset.gaps = job.id; // the page's map draws the places from now on
    if (window.hubmatchRefreshMap) window.hubmatchRefreshMap();
    document.getElementById("gaps-result").hidden = false;
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    button.disabled = true;
    bar.hidden = false;
    bar.value = 0;
    say("Starting…", false);
    try {
      const started = await window.hubmatchJobs.call("POST", `/rounds/${roundId}/gaps?wait=20`, request());
      show(await follow(started));
      say("Done.", false);
    } catch (err) {
      say(`No places found: ${err.message}`, true);
    } finally {
      button.disabled = false;
      bar.hidden = true;
    }
  });
})();
