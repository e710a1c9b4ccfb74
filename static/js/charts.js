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

// Score histograms and calibration charts, declared in the page's markup so that no page script
// is needed: a canvas with data-chart-type="histogram" or "calibration" names the json_script
// holding its data (data-source) and the path to it there (data-key, dotted), and is worded by
// data-title, data-x-title, data-y-title and data-kind (money, count, percent, days; histograms
// default to their data's unit). A histogram draws a dashed line at its data's median, and
// data-mark (with data-mark-label) colours the bar holding one value, e.g. a customer's own.
(function () {
  if (!window.EcomCharts) return;
  const palette = ["#2453c7", "#e07b39"];
  const money = new Intl.NumberFormat("en-GB", { style: "currency", currency: "GBP", maximumFractionDigits: 0 });
  const count = new Intl.NumberFormat("en-GB");
  const compact = new Intl.NumberFormat("en-GB", { notation: "compact", maximumFractionDigits: 1 });
  const decimal = new Intl.NumberFormat("en-GB", { maximumFractionDigits: 1 });
  const precise = new Intl.NumberFormat("en-GB", { maximumFractionDigits: 2 });
  const UNIT_KINDS = { currency: "money", share: "percent", days: "days", orders: "count" };

  function valueFormatter(kind) {
    if (kind === "money") return (v) => money.format(v);
    if (kind === "percent") return (v) => (v * 100).toFixed(v < 0.1 && v > 0 ? 1 : 0) + "%";
    if (kind === "days") return (v) => decimal.format(v) + " days";
    return (v) => precise.format(v);
  }

  // Shorter numbers for the axis ticks.
  function tickFormatter(kind) {
    if (kind === "money") return (v) => "£" + (Math.abs(v) >= 1000 ? compact.format(v) : Math.round(v));
    if (kind === "percent") return (v) => Math.round(v * 100) + "%";
    if (kind === "days") return (v) => compact.format(Math.round(v));
    return (v) => precise.format(v);
  }

  // The bin holding a value (values beyond the edges go to the end bins, as the data's tails do).
  function binOf(edges, value) {
    const n = edges.length - 1;
    for (let i = 0; i < n; i++) if (value < edges[i + 1]) return i;
    return n - 1;
  }

  // Where a value sits on the category axis, in bars: 0 = left edge of the first bar.
  function position(edges, value) {
    const i = binOf(edges, value);
    const width = edges[i + 1] - edges[i];
    const within = width > 0 ? (value - edges[i]) / width : 0.5;
    return i + Math.min(Math.max(within, 0), 1);
  }

  const medianLine = {
    id: "ecomMedian",
    afterDatasetsDraw(chart, args, options) {
      if (options.at === null || options.at === undefined) return;
      const x = chart.scales.x;
      const area = chart.chartArea;
      const bars = chart.data.labels.length;
      const step = bars > 1 ? x.getPixelForValue(1) - x.getPixelForValue(0) : area.right - area.left;
      const px = x.getPixelForValue(0) - step / 2 + options.at * step;
      const ctx = chart.ctx;
      ctx.save();
      ctx.strokeStyle = "#1d2330";
      ctx.lineWidth = 1.5;
      ctx.setLineDash([5, 3]);
      ctx.beginPath();
      ctx.moveTo(px, area.top);
      ctx.lineTo(px, area.bottom);
      ctx.stroke();
      ctx.setLineDash([]);
      ctx.fillStyle = "#1d2330";
      ctx.font = "12px system-ui, sans-serif";
      const right = px > (area.left + area.right) / 2;
      ctx.textAlign = right ? "right" : "left";
      ctx.fillText(options.text, px + (right ? -4 : 4), area.top + 12);
      ctx.restore();
    },
  };

  // dist: {edges: [n + 1], counts: [n], median, unit, open_ended (the last bar holds the tail)}
  function histogram(canvasId, dist, opts) {
    const canvas = document.getElementById(canvasId);
    if (!canvas || !window.Chart || !dist || !dist.counts || !dist.counts.length) return null;
    opts = opts || {};
    const kind = opts.kind || UNIT_KINDS[dist.unit] || "count";
    const format = valueFormatter(kind);
    const tick = tickFormatter(kind);
    const edges = dist.edges;
    const last = dist.counts.length - 1;
    const mark = opts.mark === undefined || opts.mark === null || opts.mark === "" ? NaN : Number(opts.mark);
    const marked = Number.isFinite(mark) ? binOf(edges, mark) : -1;
    const hasMedian = dist.median !== null && dist.median !== undefined;
    const subtitle = [];
    if (hasMedian) subtitle.push("Median " + format(dist.median) + " (dashed line)");
    if (marked >= 0) subtitle.push((opts.markLabel || "Marked") + ": " + format(mark) + " (orange bar)");
    const range = (i) => (i === last && dist.open_ended)
      ? format(edges[i]) + " or more"
      : format(edges[i]) + " – " + format(edges[i + 1]);
    return new window.Chart(canvas, {
      type: "bar",
      data: {
        labels: dist.counts.map((_, i) => i),
        datasets: [{
          label: "Customers",
          data: dist.counts,
          backgroundColor: dist.counts.map((_, i) => (i === marked ? palette[1] : palette[0] + "cc")),
          borderWidth: 0,
          barPercentage: 1,
          categoryPercentage: 0.94,
        }],
      },
      options: {
        responsive: true,
        maintainAspectRatio: false,
        animation: false,
        plugins: {
          title: { display: Boolean(opts.title), text: opts.title, font: { size: 15, weight: "600" }, align: "start" },
          subtitle: { display: subtitle.length > 0, text: subtitle.join(" · "), align: "start", padding: { bottom: 6 } },
          legend: { display: false },
          tooltip: {
            callbacks: {
              title: (items) => range(items[0].dataIndex),
              label: (ctx) => count.format(ctx.parsed.y) + " customers",
            },
          },
          ecomMedian: { at: hasMedian ? position(edges, dist.median) : null, text: "median" },
        },
        scales: {
          x: {
            title: { display: Boolean(opts.xTitle), text: opts.xTitle },
            grid: { display: false },
            ticks: { maxRotation: 0, autoSkip: true, maxTicksLimit: 6, callback: (value) => tick(edges[value]) },
          },
          y: {
            title: { display: true, text: opts.yTitle || "Customers" },
            beginAtZero: true,
            ticks: { precision: 0, callback: (v) => compact.format(v) },
          },
        },
      },
      plugins: [medianLine],
    });
  }

  // rows: [{decile, customers, mean_predicted, mean_actual}], deciles of the prediction.
  function calibration(canvasId, rows, opts) {
    if (!rows || !rows.length) return null;
    opts = opts || {};
    const kind = opts.kind || "count";
    return EcomCharts.render(canvasId, {
      title: opts.title,
      labels: rows.map((r) => String(r.decile)),
      xTitle: opts.xTitle || "Decile of the prediction (1 = lowest predicted)",
      yTitle: opts.yTitle,
      yKind: kind,
      datasets: [
        { label: "Mean predicted", data: rows.map((r) => r.mean_predicted), kind: kind },
        { label: "Mean actual", data: rows.map((r) => r.mean_actual), kind: kind },
      ],
    });
  }

  function declared() {
    document.querySelectorAll("canvas[data-chart-type]").forEach((canvas) => {
      const d = canvas.dataset;
      const source = EcomCharts.data(d.source);
      if (!source || !d.key) return;
      const item = d.key.split(".").reduce((node, key) => (node === null || node === undefined ? node : node[key]), source);
      const opts = { title: d.title, xTitle: d.xTitle, yTitle: d.yTitle, kind: d.kind, mark: d.mark, markLabel: d.markLabel };
      if (d.chartType === "histogram") histogram(canvas.id, item, opts);
      else if (d.chartType === "calibration") calibration(canvas.id, item, opts);
    });
  }

  Object.assign(window.EcomCharts, { histogram: histogram, calibration: calibration });
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", declared);
  else declared();
})();
