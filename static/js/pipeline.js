// Pipeline pages.
// 1. The pipeline page follows the run in progress: polls its progress JSON, moves the bar and
// the step badges, and reloads once the run has finished (the runs table and the results in use
// then show it).
(function () {
  const card = document.getElementById("pipeline-live");
  if (!card || card.dataset.live !== "1") return;
  const bar = document.getElementById("pipeline-bar");
  const statusBadge = document.getElementById("pipeline-status");
  const message = document.getElementById("pipeline-message");

  function setBadge(node, status, label) {
    if (!node) return;
    node.textContent = label;
    node.className = "status status-" + status;
  }

  function show(data) {
    bar.value = data.progress;
    message.textContent = data.message;
    setBadge(statusBadge, data.status, data.status_label);
    for (const step of data.steps) {
      const item = card.querySelector('[data-step="' + step.step + '"]');
      if (!item) continue;
      setBadge(item.querySelector('[data-part="status"]'), step.status, step.status_label);
      const seconds = item.querySelector('[data-part="seconds"]');
      if (seconds) seconds.textContent = step.seconds === null ? "" : step.seconds.toFixed(2) + " s";
    }
  }

  async function poll() {
    try {
      const response = await fetch(card.dataset.progressUrl, { headers: { Accept: "application/json" } });
      if (response.ok) {
        const data = await response.json();
        show(data);
        if (data.finished) {
          // let the final state be seen (and announced) before the page refreshes
          setTimeout(() => window.location.reload(), 800);
          return;
        }
      }
    } catch (e) { /* the server may be restarting: try again */ }
    setTimeout(poll, 1000);
  }
  setTimeout(poll, 500);
})();

// 2. The data-quality report: rows caught per cleaning rule, as a horizontal bar chart.
(function () {
  if (!window.EcomCharts) return;
  const chart = EcomCharts.data("quality-chart");
  if (!chart) return;
  EcomCharts.render("chart-rules", {
    title: "Rows caught per cleaning rule",
    horizontal: true,
    labels: chart.labels.map((l) => (l.length > 44 ? l.slice(0, 43) + "…" : l)),
    xTitle: "Rule",
    yTitle: "Rows (events)",
    yKind: "count",
    datasets: [{ label: "Rows", data: chart.rows, kind: "count" }],
  });
})();
