// The hub map on the review page: names on hover and focus, a point leads to its row and a row to its point,
// and a district can be zoomed to (from the list, or by clicking it). Everything is delegated from the
// document, so it keeps working when the page swaps in a freshly rendered map after a decision.
(function () {
  "use strict";
  const tip = document.getElementById("map-tip");
  const zoom = document.getElementById("zoom");
  if (!tip) return;

  function svg() { return document.getElementById("hubmap"); }

  function nameOf(el) {
    const title = el.querySelector(":scope > title");
    return el.getAttribute("aria-label") || (title && title.textContent) || "";
  }

  function showTip(el) {
    const text = nameOf(el);
    if (!text) return;
    const box = el.getBoundingClientRect();
    const host = document.getElementById("map-box").getBoundingClientRect();
    tip.textContent = text;
    tip.hidden = false;
    tip.style.left = `${Math.max(0, box.left - host.left + box.width / 2)}px`;
    tip.style.top = `${box.top - host.top - 6}px`;
  }

  function hideTip() { tip.hidden = true; }

  function target(event) {
    return event.target.closest && event.target.closest("#hubmap .pt, #hubmap .pair");
  }

  document.addEventListener("mouseover", (event) => { const el = target(event); if (el) showTip(el); });
  document.addEventListener("mouseout", (event) => { if (target(event)) hideTip(); });
  document.addEventListener("focusin", (event) => { const el = target(event); if (el) showTip(el); else hideTip(); });
  document.addEventListener("keydown", (event) => { if (event.key === "Escape") hideTip(); });

  function flash(el) {
    el.classList.add("flash");
    setTimeout(() => el.classList.remove("flash"), 2000);
  }

  document.addEventListener("click", (event) => {
    const point = event.target.closest("#hubmap a.pt, #hubmap line.pair");
    if (point) {
      const row = document.getElementById(`school-${point.dataset.school}`);
      if (row) {
        event.preventDefault();
        row.scrollIntoView({ block: "center" });
        flash(row);
        const first = row.querySelector("button, a");
        if (first) first.focus({ preventScroll: true });
      }
      return;
    }
    const toMap = event.target.closest("a.to-map");
    if (toMap) {
      const dot = document.getElementById(`pt-${toMap.dataset.school}`);
      if (dot) {
        event.preventDefault();
        document.getElementById("map-box").scrollIntoView({ block: "nearest" });
        dot.classList.add("hi");
        setTimeout(() => dot.classList.remove("hi"), 2500);
        dot.focus();
      }
      return;
    }
    const district = event.target.closest("#hubmap path.district");
    if (district && zoom) {
      zoom.value = zoom.value === district.dataset.district ? "" : district.dataset.district;
      apply();
    }
  });

  // Zoom: the SVG's viewBox becomes the district's box (with a margin), or the whole map again.
  function apply() {
    const map = svg();
    if (!map || !zoom) return;
    const district = zoom.value && map.querySelector(`path.district[data-district="${zoom.value}"]`);
    map.querySelectorAll("path.district.here").forEach((d) => d.classList.remove("here"));
    if (district) district.classList.add("here");
    if (!district) { map.setAttribute("viewBox", map.dataset.box); map.classList.remove("zoomed"); return; }
    const [x0, y0, x1, y1] = district.dataset.box.split(" ").map(Number);
    const pad = Math.max(x1 - x0, y1 - y0) * 0.08 + 10;
    map.setAttribute("viewBox", `${x0 - pad} ${y0 - pad} ${x1 - x0 + 2 * pad} ${y1 - y0 + 2 * pad}`);
    map.classList.add("zoomed");
  }

  if (zoom) zoom.addEventListener("change", apply);
  document.addEventListener("hubmatch:map", apply);
})();
