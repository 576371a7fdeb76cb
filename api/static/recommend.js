// The "Try a newcomer" panel: posts the newcomer to POST /rounds/{id}/recommend (cookie session + CSRF header, as
// the decisions do), follows the job until it ends, and lists the placements with their chains. Text only: every
// value is set with textContent, never as HTML.
(function () {
  "use strict";
  const form = document.getElementById("recommend-form");
  if (!form) return;
  const out = document.getElementById("recommend-result");

  function el(tag, text, cls) {
    const node = document.createElement(tag);
    if (text !== undefined) node.textContent = text;
    if (cls) node.className = cls;
    return node;
  }

  function showFields() {
    const kind = form.elements.kind.value;
    form.querySelectorAll("label[data-for]").forEach((label) => {
      label.hidden = !label.dataset.for.split(" ").includes(kind);
    });
  }

  function record() {
    const f = form.elements, kind = f.kind.value;
    const number = (name) => (f[name].value === "" ? undefined : Number(f[name].value));
    const rec = { id: f.id.value.trim() };
    if (f.name.value.trim()) rec.name = f.name.value.trim();
    const sectors = f.sectors.value.split(";").map((s) => s.trim()).filter(Boolean);
    if (sectors.length) rec.sectors = sectors;
    const lat = number("lat"), lon = number("lon");
    if (kind === "employer") {
      rec.sites = [{ lat, lon }];
      rec.capacity = number("capacity");
    } else {
      if (lat !== undefined || lon !== undefined) { rec.lat = lat; rec.lon = lon; }
      if (f.postcode.value.trim()) rec.postcode = f.postcode.value.trim();
    }
    if (kind === "adviser") {
      rec.company = f.company.value.trim();
      rec.capacity = number("capacity");
    }
    if (kind !== "school" && number("max_travel_km") !== undefined) rec.max_travel_km = number("max_travel_km");
    return { kind, record: rec, top: number("top") || 3 };
  }


  async function finished(job) {
    const done = await window.hubmatchJobs.follow(job, (now) => {
      out.replaceChildren(el("p", window.hubmatchJobs.stage(now), "status"));
    });
    return done.result;
  }

  function gain(r) {
    const parts = [];
    if (r.schools_covered) parts.push(`${r.schools_covered > 0 ? "+" : ""}${r.schools_covered} school(s) covered`);
    if (r.slots_filled !== r.schools_covered) parts.push(`${r.slots_filled > 0 ? "+" : ""}${r.slots_filled} slot(s)`);
    if (r.need) parts.push(`need ${r.need > 0 ? "+" : ""}${(r.need / 10).toFixed(1)}`);
    if (r.partners_engaged) parts.push(`${r.partners_engaged > 0 ? "+" : ""}${r.partners_engaged} volunteer(s) engaged`);
    parts.push(`cost ${r.cost_change >= 0 ? "+" : ""}${r.cost_change.toFixed(3)}`);
    return parts.join(", ");
  }

  function render(result) {
    const box = document.createDocumentFragment();
    result.roles.forEach((role) => {
      const word = role.role === "adviser" ? "Advisers" : "Cornerstone Employers";
      box.append(el("h3", word));
      box.append(el("p", role.method === "augmenting paths"
        ? "From the current pairings, without a re-solve."
        : `By a re-solve of the role: ${role.reason}.`, "hint"));
      const list = el("ol", undefined, "placements");
      role.recommendations.forEach((r) => {
        const item = el("li");
        item.append(el("strong", gain(r)), el("p", r.chain, "chain"));
        const moves = el("ul", undefined, "changes");
        r.added.forEach((c) => {
          const km = c.distance_km !== null && c.distance_km !== undefined ? `${c.distance_km.toFixed(1)} km` : c.distance_band;
          moves.append(el("li", `${c.school} ← ${c.partner} (${km}, cost ${c.cost.toFixed(3)})`));
        });
        r.dropped.forEach((c) => moves.append(el("li", `${c.school} ✕ ${c.partner}`)));
        if (moves.children.length) item.append(moves);
        list.append(item);
      });
      box.append(list);
    });
    out.replaceChildren(box);
  }

  form.elements.kind.addEventListener("change", showFields);
  showFields();
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const button = form.querySelector('button[type="submit"]');
    button.disabled = true;
    try {
      const started = await window.hubmatchJobs.call("POST", `/rounds/${form.dataset.round}/recommend?wait=20`, record());
      render(await finished(started));
    } catch (err) {
      out.replaceChildren(el("p", `No placements: ${err.message}`, "status error"));
    } finally {
      button.disabled = false;
    }
  });
})();
