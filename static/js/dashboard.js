(function () {
  const charts = EcomCharts.data("dashboard-charts");
  if (!charts) return;
  const months = charts.sales.map((r) => new Date(r.period).toLocaleDateString("en-GB", { month: "short", year: "numeric" }));
  EcomCharts.render("chart-sales", {
    title: "Net revenue, orders and buying customers per month",
    labels: months,
    xTitle: "Month",
    yTitle: "Net revenue (£)",
    yKind: "money",
    y2Title: "Orders / customers",
    y2Kind: "count",
    datasets: [
      { label: "Net revenue", data: charts.sales.map((r) => r.revenue), kind: "money" },
      { label: "Orders", data: charts.sales.map((r) => r.orders), type: "line", axis: "y2", kind: "count" },
      { label: "Buying customers", data: charts.sales.map((r) => r.customers), type: "line", axis: "y2", kind: "count" },
    ],
  });
  EcomCharts.render("chart-categories", {
    title: "Net revenue by category",
    horizontal: true,
    labels: charts.categories.map((r) => r.category),
    xTitle: "Category",
    yTitle: "Net revenue (£)",
    yKind: "money",
    datasets: [{ label: "Net revenue", data: charts.categories.map((r) => r.revenue), kind: "money" }],
  });
  EcomCharts.render("chart-products", {
    title: "Top 10 products by net revenue",
    horizontal: true,
    labels: charts.products.map((r) => r.title.length > 26 ? r.title.slice(0, 25) + "…" : r.title),
    xTitle: "Product",
    yTitle: "Net revenue (£)",
    yKind: "money",
    datasets: [{ label: "Net revenue", data: charts.products.map((r) => r.revenue), kind: "money" }],
  });
})();
