// Small helpers over Chart.js (served from static/vendor, no CDN): every chart gets a title,
// axis titles and readable numbers. Pages put their data in <script type="application/json">
// (Django's json_script) and call EcomCharts.* from their own script file.
(function () {
  const palette = ["#2453c7", "#e07b39", "#2f9e6e", "#b5477d", "#7a5cc7", "#c9a227", "#3a8fb7", "#8a8f99"];
  const money = new Intl.NumberFormat("en-GB", { style: "currency", currency: "GBP", maximumFractionDigits: 0 });
  const count = new Intl.NumberFormat("en-GB");
  const compact = new Intl.NumberFormat("en-GB", { notation: "compact", maximumFractionDigits: 1 });

  function data(id) {
    const node = document.getElementById(id);
    return node ? JSON.parse(node.textContent) : null;
  }

  function formatter(kind) {
    if (kind === "money") return (v) => money.format(v);
    if (kind === "percent") return (v) => (v * 100).toFixed(1) + "%";
    return (v) => count.format(v);
  }

  function tickFormatter(kind) {
    if (kind === "money") return (v) => "£" + compact.format(v);
    if (kind === "percent") return (v) => Math.round(v * 100) + "%";
    return (v) => compact.format(v);
  }

  function axis(title, kind, position) {
    return {
      position: position,
      title: { display: Boolean(title), text: title },
      ticks: { callback: kind ? tickFormatter(kind) : undefined },
      grid: { drawOnChartArea: position !== "right" },
      beginAtZero: true,
    };
  }

  // spec: {title, labels, datasets: [{label, data, kind, type, axis: "y"|"y2"}], xTitle, yTitle,
  //        yKind, y2Title, y2Kind, horizontal}
  function render(canvasId, spec) {
    const canvas = document.getElementById(canvasId);
    if (!canvas || !window.Chart) return null;
    const horizontal = Boolean(spec.horizontal);
    const valueAxis = horizontal ? "x" : "y";
    const scales = {};
    scales[horizontal ? "y" : "x"] = { title: { display: Boolean(spec.xTitle), text: spec.xTitle }, grid: { display: false } };
    scales[valueAxis] = axis(spec.yTitle, spec.yKind, horizontal ? "bottom" : "left");
    if (spec.y2Title) scales.y2 = axis(spec.y2Title, spec.y2Kind, "right");
    const datasets = spec.datasets.map((d, i) => ({
      label: d.label,
      data: d.data,
      type: d.type || spec.type || "bar",
      yAxisID: horizontal ? undefined : (d.axis === "y2" ? "y2" : "y"),
      backgroundColor: d.type === "line" ? palette[i % palette.length] : palette[i % palette.length] + "cc",
      borderColor: palette[i % palette.length],
      borderWidth: d.type === "line" ? 2 : 0,
      pointRadius: d.type === "line" ? 3 : 0,
      tension: 0.2,
      kind: d.kind || spec.yKind,
    }));
    return new window.Chart(canvas, {
      type: spec.type || "bar",
      data: { labels: spec.labels, datasets: datasets },
      options: {
        indexAxis: horizontal ? "y" : "x",
        responsive: true,
        maintainAspectRatio: false,
        animation: false,
        interaction: { mode: "index", intersect: false },
        plugins: {
          title: { display: true, text: spec.title, font: { size: 15, weight: "600" }, align: "start" },
          legend: { display: datasets.length > 1, position: "bottom" },
          tooltip: {
            callbacks: {
              label: (ctx) => ctx.dataset.label + ": " + formatter(ctx.dataset.kind)(ctx.parsed[valueAxis]),
            },
          },
        },
        scales: scales,
      },
    });
  }

  window.EcomCharts = { data: data, render: render, formatter: formatter };
})();
