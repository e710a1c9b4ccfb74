// Follows a running import: polls its progress JSON and reloads the page when it finishes.
(function () {
  const card = document.getElementById("progress-card");
  if (!card || card.dataset.finished === "1") return;
  const fmt = new Intl.NumberFormat();
  async function poll() {
    try {
      const response = await fetch(card.dataset.progressUrl, { headers: { Accept: "application/json" } });
      if (response.ok) {
        const data = await response.json();
        document.getElementById("bar").value = data.progress;
        document.getElementById("message").textContent = data.message;
        const status = document.getElementById("status");
        status.textContent = data.status.charAt(0).toUpperCase() + data.status.slice(1);
        status.className = "status status-" + data.status;
        for (const key of ["rows_received", "rows_accepted", "rows_duplicate", "rows_rejected"]) {
          document.getElementById(key).textContent = fmt.format(data[key]);
        }
        if (data.finished) { window.location.reload(); return; }
      }
    } catch (e) { /* the server may be restarting: try again */ }
    setTimeout(poll, 1000);
  }
  setTimeout(poll, 500);
})();
