(function () {
  const charts = EcomCharts.data("catalog-charts");
  if (!charts) return;
  const month = (iso) => new Date(iso).toLocaleDateString("en-GB", { month: "short", year: "numeric" });
  const day = (iso) => new Date(iso).toLocaleDateString("en-GB", { day: "numeric", month: "short", year: "2-digit" });
  if (charts.monthly) {
    EcomCharts.render("chart-monthly", {
      title: "Net spend and orders per month",
      labels: charts.monthly.map((r) => month(r.period)),
      xTitle: "Month",
      yTitle: "Net spend (£)",
      yKind: "money",
      y2Title: "Orders",
      y2Kind: "count",
      datasets: [
        { label: "Net spend", data: charts.monthly.map((r) => r.revenue), kind: "money" },
        { label: "Orders", data: charts.monthly.map((r) => r.orders), type: "line", axis: "y2", kind: "count" },
      ],
    });
  }
  if (charts.categories) {
    EcomCharts.render("chart-categories", {
      title: "Spend by category",
      horizontal: true,
      labels: charts.categories.map((r) => r.category),
      xTitle: "Category",
      yTitle: "Net spend (£)",
      yKind: "money",
      datasets: [{ label: "Net spend", data: charts.categories.map((r) => r.revenue), kind: "money" }],
    });
  }
  if (charts.weekly) {
    EcomCharts.render("chart-weekly", {
      title: "Units sold and net revenue per week",
      labels: charts.weekly.map((r) => day(r.period)),
      xTitle: "Week starting",
      yTitle: "Units",
      yKind: "count",
      y2Title: "Net revenue (£)",
      y2Kind: "money",
      datasets: [
        { label: "Units", data: charts.weekly.map((r) => r.units), kind: "count" },
        { label: "Net revenue", data: charts.weekly.map((r) => r.revenue), type: "line", axis: "y2", kind: "money" },
      ],
    });
  }
})();
