// The Models pages.
// 1. The latest training round, while it runs: polls its progress JSON, moves the bar and the
// status, and reloads once it has finished (new model runs and perhaps a new serving model).
(function () {
  const card = document.getElementById("training-live");
  if (!card || card.dataset.live !== "1" || !card.dataset.progressUrl) return;
  const bar = document.getElementById("training-bar");
  const badge = document.getElementById("training-status");
  const message = document.getElementById("training-message");

  function show(data) {
    if (bar) bar.value = data.progress;
    if (message) message.textContent = data.message;
    if (badge) {
      badge.textContent = data.status_label;
      badge.className = "status status-" + data.status;
    }
  }

  async function poll() {
    try {
      const response = await fetch(card.dataset.progressUrl, { headers: { Accept: "application/json" } });
      if (response.ok) {
        const data = await response.json();
        show(data);
        if (data.finished) {
          setTimeout(() => window.location.reload(), 800);
          return;
        }
      }
    } catch (e) { /* the server may be restarting: try again */ }
    setTimeout(poll, 1000);
  }
  setTimeout(poll, 500);
})();

// 2. Metrics over time: the model each training round chose against all-time popularity.
(function () {
  if (!window.EcomCharts) return;
  const history = EcomCharts.data("model-history");
  if (!history || !history.labels.length) return;
  EcomCharts.render("chart-history", {
    title: "Held-out metrics per training round: the chosen model vs popularity",
    type: "line",
    labels: history.labels,
    xTitle: "Training round",
    yTitle: "Metric at k = 10 (0–1)",
    datasets: [
      { label: "NDCG@10, chosen model", data: history.chosen_ndcg, type: "line" },
      { label: "NDCG@10, popularity", data: history.popularity_ndcg, type: "line" },
      { label: "Recall@10, chosen model", data: history.chosen_recall, type: "line" },
      { label: "Recall@10, popularity", data: history.popularity_recall, type: "line" },
    ],
  });
})();

// 3. The comparison page: the compared runs' NDCG@10 and recall@10 as grouped bars.
(function () {
  if (!window.EcomCharts) return;
  const chart = EcomCharts.data("compare-chart");
  if (!chart || chart.runs.length < 2) return;
  EcomCharts.render("chart-compare", {
    title: "Compared runs at k = 10 (test period)",
    labels: chart.labels,
    xTitle: "Metric",
    yTitle: "Value (0–1)",
    datasets: chart.runs.map((run) => ({ label: run.label, data: run.data })),
  });
})();

// 3b. Deep-model runs: loss (left axis) and validation figures (right axis) per epoch.
(function () {
  if (!window.EcomCharts) return;
  const curves = EcomCharts.data("training-curves");
  if (!curves) return;
  curves.forEach((curve) => {
    const losses = curve.series.filter((s) => s.axis === "y");
    const metrics = curve.series.filter((s) => s.axis === "y2");
    EcomCharts.render("chart-curves-" + curve.run, {
      title: curve.title,
      type: "line",
      labels: curve.epochs,
      xTitle: "Epoch",
      yTitle: losses.length ? "Loss" : "",
      y2Title: metrics.length ? "Validation metric" : "",
      datasets: curve.series.map((s) => ({ label: s.label, data: s.data, type: "line", axis: s.axis })),
    });
  });
})();

// 4. Comparing needs ticked runs: say so instead of sending an empty form.
(function () {
  const form = document.getElementById("compare-form");
  const note = document.getElementById("compare-note");
  if (!form || !note) return;
  form.addEventListener("submit", (event) => {
    const ticked = document.querySelectorAll('input[name="run"][form="compare-form"]:checked').length;
    if (ticked < 1) {
      event.preventDefault();
      note.textContent = "Tick the runs to compare first.";
    }
  });
})();

// 5. A promotion by hand waiting for its precompute: reload until the run serves (the page then
// says so), for at most ten minutes.
(function () {
  const note = document.querySelector("[data-awaiting]");
  if (!note) return;
  const key = "models-awaiting-" + note.dataset.awaiting;
  const since = Number(sessionStorage.getItem(key) || Date.now());
  sessionStorage.setItem(key, String(since));
  if (Date.now() - since > 10 * 60 * 1000) {
    note.textContent += " Still waiting after ten minutes: is a worker running?";
    return;
  }
  setTimeout(() => window.location.reload(), 2000);
})();
