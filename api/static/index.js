// A Hub Lead creates a round from the index: POST /hubs/{hub}/rounds (the API, with the page's CSRF header),
// then goes to the new round's page to set its policy and solve it.
(function () {
  "use strict";
  const form = document.getElementById("new-round");
  if (!form) return;
  const csrf = document.querySelector('meta[name="csrf-token"]').content;
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const note = document.getElementById("new-round-note");
    const response = await fetch(`/hubs/${encodeURIComponent(form.dataset.hub)}/rounds`, {
      method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf, Accept: "application/json" },
      body: JSON.stringify({ term: form.querySelector("#term").value.trim() }),
    });
    const data = await response.json().catch(() => ({}));
    if (!response.ok) {
      note.textContent = `Not created: ${(data.error && data.error.message) || response.statusText}`;
      note.classList.add("error");
      return;
    }
    window.location.assign(`/ui/rounds/${data.id}`);
  });
})();
