// Segment pages: trend sparklines (list), history/profile/mix charts (detail), the largest moves
// (movements) over EcomCharts and the vendored Chart.js; and the rule-segment condition builder
// with its live size preview (form page, no charts needed).
(function () {
  "use strict";

  const palette = ["#2453c7", "#e07b39", "#2f9e6e", "#b5477d"];
  const count = new Intl.NumberFormat("en-GB");
  const decimal = new Intl.NumberFormat("en-GB", { maximumFractionDigits: 1 });
  const pounds = new Intl.NumberFormat("en-GB", { style: "currency", currency: "GBP" });

  function jsonData(id) {
    const node = document.getElementById(id);
    return node ? JSON.parse(node.textContent) : null;
  }

  function runLabel(run) {
    const when = run.finished_at
      ? new Date(run.finished_at).toLocaleDateString("en-GB", { day: "numeric", month: "short" })
      : "";
    return "#" + run.run + (when ? " · " + when : "");
  }

  // A feature value as staff read it (units from segments.selectors.FEATURE_LABELS).
  function featureValue(value, unit) {
    if (value === null || value === undefined) return "–";
    if (unit === "currency") return pounds.format(value);
    if (unit === "share") return (value * 100).toFixed(1) + "%";
    if (unit === "ratio") return value.toFixed(2);
    return decimal.format(value);
  }

  // --- list: one sparkline per segment --------------------------------------------------------

  function sparklines() {
    const charts = jsonData("segment-list-charts");
    if (!charts || !window.Chart) return;
    const labels = charts.runs.map(runLabel);
    document.querySelectorAll("canvas.sparkline").forEach((canvas) => {
      const sizes = charts.trends[canvas.dataset.segment] || [];
      new window.Chart(canvas, {
        type: "line",
        data: {
          labels: labels.slice(labels.length - sizes.length),
          datasets: [{
            data: sizes,
            borderColor: palette[0],
            backgroundColor: palette[0] + "22",
            borderWidth: 2,
            fill: true,
            pointRadius: sizes.length > 1 ? 0 : 3,
            pointHoverRadius: 3,
            tension: 0.25,
          }],
        },
        options: {
          responsive: true,
          maintainAspectRatio: false,
          animation: false,
          interaction: { mode: "index", intersect: false },
          layout: { padding: 3 },
          plugins: {
            legend: { display: false },
            tooltip: {
              displayColors: false,
              callbacks: { label: (ctx) => count.format(ctx.parsed.y) + " customers" },
            },
          },
          scales: { x: { display: false }, y: { display: false, grace: "10%" } },
        },
      });
    });
  }

  // --- detail: size history, profile against the population, mixes ---------------------------

  function detailCharts() {
    const charts = jsonData("segment-detail-charts");
    if (!charts || !window.EcomCharts) return;
    EcomCharts.render("chart-history", {
      title: "Customers per segmentation run",
      type: "line",
      labels: charts.history.map(runLabel),
      xTitle: "Segmentation run",
      yTitle: "Customers",
      yKind: "count",
      datasets: [{ label: "Customers", data: charts.history.map((h) => h.size), type: "line", kind: "count" }],
    });
    profileChart(charts.features);
    const mixes = [
      ["chart-categories", charts.categories, "Top category of spend", "Category"],
      ["chart-countries", charts.countries, "Country", "Country"],
      ["chart-rfm-mix", charts.rfm_mix, "RFM segment", "RFM segment"],
    ];
    mixes.forEach(([id, rows, title, axisTitle]) => {
      if (!rows || !rows.length) return;
      EcomCharts.render(id, {
        title: title + ": members against all customers",
        horizontal: true,
        labels: rows.map((r) => r.name),
        xTitle: axisTitle,
        yTitle: "Share of customers",
        yKind: "percent",
        datasets: [
          { label: "Members", data: rows.map((r) => r.members), kind: "percent" },
          { label: "All customers", data: rows.map((r) => r.population), kind: "percent" },
        ],
      });
    });
  }

  // Members' mean over all customers' mean per feature, as bars from 1× on a log axis: bars to
  // the right are higher than typical, to the left lower, and 2× and 0.5× are equally far out.
  function profileChart(features) {
    const canvas = document.getElementById("chart-profile");
    if (!canvas || !window.Chart) return;
    const rows = features.filter((f) => f.ratio !== null && f.ratio > 0);
    const ratios = rows.map((f) => f.ratio);
    const low = Math.min(0.5, ...ratios) / 1.25;
    const high = Math.max(2, ...ratios) * 1.25;
    const nice = [0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 50, 100];
    new window.Chart(canvas, {
      type: "bar",
      data: {
        labels: rows.map((f) => f.label),
        datasets: [{
          label: "Members ÷ all customers (means)",
          data: rows.map((f) => [1, f.ratio]),
          backgroundColor: rows.map((f) => (f.ratio >= 1 ? palette[0] : palette[1]) + "cc"),
          borderWidth: 0,
        }],
      },
      options: {
        indexAxis: "y",
        responsive: true,
        maintainAspectRatio: false,
        animation: false,
        plugins: {
          title: { display: true, text: "Members against all customers (mean, ×)", font: { size: 15, weight: "600" }, align: "start" },
          legend: { display: false },
          tooltip: {
            callbacks: {
              label: (ctx) => {
                const f = rows[ctx.dataIndex];
                return "members " + featureValue(f.members_mean, f.unit) + " vs all " +
                  featureValue(f.population_mean, f.unit) + " (" + f.ratio.toFixed(2) + "×)";
              },
            },
          },
        },
        scales: {
          x: {
            type: "logarithmic",
            min: low,
            max: high,
            title: { display: true, text: "Members' mean ÷ all customers' mean (1× = typical)" },
            afterBuildTicks: (axis) => {
              axis.ticks = nice.filter((v) => v >= low && v <= high).map((v) => ({ value: v }));
            },
            ticks: { callback: (v) => v + "×" },
            grid: { color: (ctx) => (ctx.tick && ctx.tick.value === 1 ? "#5b6475" : "#e6e9ef") },
          },
          y: { title: { display: true, text: "Feature" }, grid: { display: false } },
        },
      },
    });
  }

  // --- movements -------------------------------------------------------------------------------

  function movementCharts() {
    const charts = jsonData("segment-movement-charts");
    if (!charts || !window.EcomCharts) return;
    const what = charts.kind === "cluster" ? "clusters" : "RFM segments";
    EcomCharts.render("chart-moves", {
      title: "Largest moves between " + what + ", run #" + charts.from_run + " → run #" + charts.to_run,
      horizontal: true,
      labels: charts.moves.map((m) => m.from + " → " + m.to),
      xTitle: "From → to",
      yTitle: "Customers",
      yKind: "count",
      datasets: [{ label: "Customers", data: charts.moves.map((m) => m.customers), kind: "count" }],
    });
  }

  // --- the condition builder -------------------------------------------------------------------

  const COMPARISONS = {
    ">": "is more than",
    ">=": "is at least",
    "<": "is less than",
    "<=": "is at most",
    "==": "equals",
    "!=": "does not equal",
  };
  const TEXT_COMPARISONS = { "==": "is", "!=": "is not" };
  const UNITS = {
    currency: "£", days: "days", orders: "orders", products: "products", units: "units",
    events: "events", share: "%", ratio: "(0–1)",
  };
  const CONDITIONS = [
    ["feature", "+ Feature"],
    ["category", "+ Bought category"],
    ["product", "+ Bought product"],
    ["segment", "+ In segment"],
    ["group", "+ Group"],
  ];
  const PATH_IN_MESSAGE = /(\$[\w.[\]]*):\s*/;
  const PREVIEW_DELAY_MS = 400;

  function el(tag, attrs, children) {
    const node = document.createElement(tag);
    Object.entries(attrs || {}).forEach(([key, value]) => {
      if (value === undefined || value === null || value === false) return;
      if (key === "text") node.textContent = value;
      else if (key === "className") node.className = value;
      else node.setAttribute(key, value === true ? "" : value);
    });
    (children || []).forEach((child) => child && node.appendChild(child));
    return node;
  }

  function options(pairs, selected) {
    return pairs.map(([value, label]) => {
      const option = el("option", { value: value, text: label });
      option.selected = String(value) === String(selected);
      return option;
    });
  }

  function builder() {
    const config = jsonData("segment-builder");
    const container = document.getElementById("rule-builder");
    const hidden = document.getElementById("id_definition");
    if (!config || !container || !hidden) return;
    const form = hidden.form;
    const csrf = form.querySelector("input[name=csrfmiddlewaretoken]").value;
    const previewBox = document.getElementById("rule-preview");
    const jsonBox = document.getElementById("rule-json");
    const vocab = config.vocabulary;
    const features = Object.fromEntries(vocab.features.map((f) => [f.name, f]));
    const firstNumeric = vocab.features.find((f) => f.unit !== "text");
    const nodes = new Map();
    let nextId = 1;
    let paths = {};
    let timer = null;
    let sequence = 0;

    function make(props) {
      const node = Object.assign({ id: nextId++, not: false }, props);
      nodes.set(node.id, node);
      return node;
    }

    function blank(type) {
      if (type === "group") return make({ type: "group", op: "and", children: [] });
      if (type === "feature") return make({ type: "feature", feature: (features.monetary || firstNumeric).name, cmp: ">", value: "" });
      if (type === "category") return make({ type: "category", category: vocab.categories[0] || "", days: "" });
      if (type === "product") return make({ type: "product", sku: "", days: "" });
      return make({ type: "segment", segment: vocab.segments[0] || "" });
    }

    // Shares are typed as percentages and stored as fractions.
    function toInput(feature, value) {
      if (value === undefined || value === null) return "";
      const unit = (features[feature] || {}).unit;
      if (unit === "share" && typeof value === "number") return String(parseFloat((value * 100).toPrecision(12)));
      return String(value);
    }

    function fromInput(node) {
      const info = features[node.feature] || {};
      if (info.unit === "text") return node.value;
      if (String(node.value).trim() === "") return undefined;
      const number = Number(node.value);
      if (!Number.isFinite(number)) return node.value;
      return info.unit === "share" ? parseFloat((number / 100).toPrecision(12)) : number;
    }

    function days(value) {
      if (String(value).trim() === "") return undefined;
      const number = Number(value);
      return Number.isFinite(number) ? number : value;
    }

    function fromTree(tree) {
      if (!tree || typeof tree !== "object" || Array.isArray(tree)) return null;
      if (tree.op === "not") {
        const inner = fromTree(tree.child);
        if (inner) inner.not = !inner.not;
        return inner;
      }
      if (tree.op === "and" || tree.op === "or") {
        const group = make({ type: "group", op: tree.op, children: [] });
        group.children = (tree.children || []).map(fromTree).filter(Boolean);
        return group;
      }
      if ("feature" in tree) return make({ type: "feature", feature: tree.feature, cmp: tree.cmp || ">", value: toInput(tree.feature, tree.value) });
      if ("bought_category" in tree) return make({ type: "category", category: tree.bought_category, days: tree.within_days ?? "" });
      if ("bought_product" in tree) return make({ type: "product", sku: tree.bought_product, days: tree.within_days ?? "" });
      if ("in_segment" in tree) return make({ type: "segment", segment: tree.in_segment });
      return null;
    }

    let root = fromTree(config.definition);
    if (!root || root.type !== "group" || root.not) {
      const wrapper = blank("group");
      if (root) wrapper.children.push(root);
      root = wrapper;
    }

    // The rule tree for the server, and which UI node each JSON path belongs to (so an error
    // naming "$.children[1].child" can point at the right condition).
    function toTree(node, path) {
      const innerPath = node.not ? path + ".child" : path;
      paths[path] = node;
      paths[innerPath] = node;
      let inner;
      if (node.type === "group") {
        inner = { op: node.op, children: node.children.map((child, i) => toTree(child, innerPath + ".children[" + i + "]")) };
      } else if (node.type === "feature") {
        inner = { feature: node.feature, cmp: node.cmp };
        const value = fromInput(node);
        if (value !== undefined) inner.value = value;
      } else if (node.type === "category") {
        inner = { bought_category: node.category };
        if (days(node.days) !== undefined) inner.within_days = days(node.days);
      } else if (node.type === "product") {
        inner = { bought_product: node.sku.trim() };
        if (days(node.days) !== undefined) inner.within_days = days(node.days);
      } else {
        inner = { in_segment: node.segment };
      }
      return node.not ? { op: "not", child: inner } : inner;
    }

    function currentTree() {
      paths = {};
      return root.children.length ? toTree(root, "$") : null;
    }

    // --- rendering ---

    function control(node, field, tag, attrs, children) {
      const id = "rb-" + node.id + "-" + field;
      return el(tag, Object.assign({ id: id, "data-field": field }, attrs), children);
    }

    function label(node, field, text, visible) {
      return el("label", { for: "rb-" + node.id + "-" + field, className: visible ? "rule-word" : "visually-hidden", text: text });
    }

    function notToggle(node) {
      const box = control(node, "not", "input", { type: "checkbox" });
      box.checked = node.not;
      return el("label", { className: "rule-not", title: "Match customers who do NOT meet this" }, [box, document.createTextNode(" not")]);
    }

    function removeButton(node, what) {
      return el("button", { type: "button", className: "rule-remove", "data-remove": node.id, "aria-label": "Remove this " + what, title: "Remove this " + what, text: "×" });
    }

    function textOrSelect(node, field, choices, value, attrs) {
      if (choices.length) {
        const pairs = choices.map((c) => [c, c]);
        if (value && !choices.includes(value)) pairs.unshift([value, value + " (unknown)"]);
        return control(node, field, "select", attrs, options(pairs, value));
      }
      return control(node, field, "input", Object.assign({ type: "text", value: value }, attrs));
    }

    function daysInput(node) {
      return [
        label(node, "days", "within", true),
        control(node, "days", "input", { type: "number", min: "1", step: "1", value: node.days, className: "rule-days", placeholder: "any", "aria-describedby": "rb-" + node.id + "-days-unit" }),
        el("span", { id: "rb-" + node.id + "-days-unit", className: "rule-unit", text: "days" }),
      ];
    }

    function renderCondition(node) {
      const parts = [notToggle(node)];
      if (node.type === "feature") {
        const info = features[node.feature] || { unit: "", label: node.feature };
        const featurePairs = vocab.features.map((f) => [f.name, f.label]);
        if (!features[node.feature]) featurePairs.unshift([node.feature, node.feature + " (unknown)"]);
        const text = info.unit === "text";
        const cmps = text ? TEXT_COMPARISONS : COMPARISONS;
        parts.push(
          label(node, "feature", "Feature"),
          control(node, "feature", "select", {}, options(featurePairs, node.feature)),
          label(node, "cmp", "Comparison"),
          control(node, "cmp", "select", {}, options(Object.entries(cmps), node.cmp)),
          label(node, "value", "Value"),
        );
        if (text) {
          parts.push(textOrSelect(node, "value", vocab.categories, node.value, {}));
        } else {
          const unit = UNITS[info.unit] || "";
          if (unit === "£") parts.push(el("span", { className: "rule-unit", text: "£", "aria-hidden": "true" }));
          parts.push(control(node, "value", "input", { type: "number", step: "any", value: node.value, className: "rule-value", placeholder: "value" }));
          if (unit && unit !== "£") parts.push(el("span", { className: "rule-unit", text: unit }));
        }
      } else if (node.type === "category") {
        parts.push(label(node, "category", "bought in category", true), textOrSelect(node, "category", vocab.categories, node.category, {}), ...daysInput(node));
      } else if (node.type === "product") {
        parts.push(label(node, "sku", "bought product (SKU)", true), control(node, "sku", "input", { type: "text", value: node.sku, className: "rule-sku", placeholder: "e.g. 85123A", autocomplete: "off" }), ...daysInput(node));
      } else {
        parts.push(label(node, "segment", "is in segment", true), textOrSelect(node, "segment", vocab.segments, node.segment, {}));
      }
      return el("div", { className: "rule-condition", "data-node": node.id }, [
        el("div", { className: "rule-controls" }, parts),
        removeButton(node, "condition"),
        el("p", { className: "rule-node-error", id: "rb-" + node.id + "-error", hidden: true }),
      ]);
    }

    function renderGroup(node, isRoot) {
      const head = [];
      if (!isRoot) head.push(notToggle(node));
      head.push(
        label(node, "op", "Match", true),
        control(node, "op", "select", {}, options([["and", "all of these (AND)"], ["or", "any of these (OR)"]], node.op)),
      );
      if (!isRoot) head.push(removeButton(node, "group"));
      const items = node.children.map((child, i) => el("li", {}, [
        i ? el("span", { className: "rule-joiner", "aria-hidden": "true", text: node.op === "and" ? "and" : "or" }) : null,
        child.type === "group" ? renderGroup(child, false) : renderCondition(child),
      ]));
      const adders = CONDITIONS.map(([type, text]) => el("button", { type: "button", className: "rule-add", "data-add": type, "data-group": node.id, text: text }));
      return el("fieldset", { className: "rule-group" + (isRoot ? " rule-root" : ""), "data-node": node.id }, [
        el("legend", { className: "visually-hidden", text: isRoot ? "All conditions" : "Group of conditions" }),
        el("div", { className: "rule-group-head" }, head),
        el("p", { className: "rule-node-error", id: "rb-" + node.id + "-error", hidden: true }),
        node.children.length ? el("ul", { className: "rule-children" }, items) : el("p", { className: "muted rule-empty", text: isRoot ? "No conditions yet: add one below." : "An empty group: add a condition or remove it." }),
        el("div", { className: "rule-adders", role: "group", "aria-label": "Add to this group" }, adders),
      ]);
    }

    function render(focusId) {
      container.replaceChildren(renderGroup(root, true));
      const target = focusId && document.getElementById(focusId);
      if (target) target.focus();
      changed();
    }

    // --- state changes ---

    function changed() {
      const tree = currentTree();
      hidden.value = tree ? JSON.stringify(tree) : "";
      jsonBox.textContent = tree ? JSON.stringify(tree, null, 2) : "(no conditions)";
      clearErrors();
      clearTimeout(timer);
      timer = setTimeout(() => preview(tree), PREVIEW_DELAY_MS);
    }

    function findParent(group, id) {
      for (const child of group.children) {
        if (child.id === id) return group;
        if (child.type === "group") {
          const found = findParent(child, id);
          if (found) return found;
        }
      }
      return null;
    }

    container.addEventListener("click", (event) => {
      const add = event.target.closest("[data-add]");
      if (add) {
        const group = nodes.get(Number(add.dataset.group));
        const node = blank(add.dataset.add);
        group.children.push(node);
        render(node.type === "group" ? "rb-" + node.id + "-op" : "rb-" + node.id + "-" + ({ feature: "feature", category: "category", product: "sku", segment: "segment" })[node.type]);
        return;
      }
      const remove = event.target.closest("[data-remove]");
      if (remove) {
        const id = Number(remove.dataset.remove);
        const parent = findParent(root, id);
        if (!parent) return;
        const index = parent.children.findIndex((c) => c.id === id);
        parent.children.splice(index, 1);
        nodes.delete(id);
        const next = parent.children[Math.min(index, parent.children.length - 1)];
        render(next ? "rb-" + next.id + "-not" : "rb-" + parent.id + "-op");
      }
    });

    function update(event, structural) {
      const field = event.target.dataset.field;
      const holder = event.target.closest("[data-node]");
      if (!field || !holder) return;
      const node = nodes.get(Number(holder.dataset.node));
      if (field === "not") node.not = event.target.checked;
      else node[field] = event.target.value;
      if (field === "feature") {
        const info = features[node.feature] || {};
        if (info.unit === "text") {
          node.cmp = TEXT_COMPARISONS[node.cmp] ? node.cmp : "==";
          node.value = vocab.categories[0] || "";
        } else if (!COMPARISONS[node.cmp] || (typeof node.value === "string" && node.value !== "" && !Number.isFinite(Number(node.value)))) {
          node.value = "";
        }
      }
      if (structural && (field === "feature" || field === "op")) render(event.target.id);
      else changed();
    }
    container.addEventListener("input", (event) => update(event, false));
    container.addEventListener("change", (event) => update(event, true));
    form.addEventListener("submit", () => {
      const tree = currentTree();
      hidden.value = tree ? JSON.stringify(tree) : "";
    });

    // --- errors and the preview ---

    function clearErrors() {
      container.querySelectorAll(".rule-invalid").forEach((node) => node.classList.remove("rule-invalid"));
      container.querySelectorAll("[aria-invalid]").forEach((node) => node.removeAttribute("aria-invalid"));
      container.querySelectorAll(".rule-node-error").forEach((node) => { node.hidden = true; node.textContent = ""; });
    }

    // Point at the node a RuleError names: the deepest path we know that the message's path
    // starts with. Returns the message without its path.
    function markError(message) {
      const match = PATH_IN_MESSAGE.exec(message || "");
      if (!match) return message;
      let path = match[1];
      const up = (p) => {
        const parent = /^(.*)(\.child|\.children\[\d+\])$/.exec(p);
        return parent ? parent[1] : "";
      };
      while (path && !paths[path]) path = up(path);
      const text = message.slice(match.index + match[0].length);
      const node = path ? paths[path] : null;
      if (!node) return text;
      const holder = container.querySelector('[data-node="' + node.id + '"]');
      if (holder) {
        holder.classList.add("rule-invalid");
        const error = document.getElementById("rb-" + node.id + "-error");
        error.textContent = text;
        error.hidden = false;
        holder.querySelectorAll(":scope > .rule-controls [data-field], :scope > .rule-group-head [data-field]").forEach((input) => {
          input.setAttribute("aria-invalid", "true");
          input.setAttribute("aria-describedby", error.id);
        });
      }
      return text;
    }

    function showMessage(text, className) {
      previewBox.replaceChildren(el("p", { className: className || "muted", text: text }));
    }

    function showPreview(data) {
      const share = (data.share * 100).toFixed(1) + "%";
      const sample = el("ul", { className: "preview-sample" }, data.sample.map((c) =>
        el("li", {}, [el("a", { href: c.url, text: c.id }), c.country ? el("span", { className: "muted", text: " " + c.country }) : null])));
      previewBox.replaceChildren(
        el("p", { className: "preview-figure" }, [
          el("strong", { id: "preview-size", text: count.format(data.size) }),
          document.createTextNode(data.size === 1 ? " customer" : " customers"),
        ]),
        el("p", { className: "muted" }, [
          el("span", { id: "preview-share", text: share }),
          document.createTextNode(" of " + count.format(data.population) + " customers scored in run #" + data.run),
        ]),
        el("p", { className: "preview-description" }, [el("span", { className: "muted", text: "Reads: " }), el("code", { text: data.description })]),
        data.sample.length ? el("p", { className: "muted small", text: "For example:" }) : null,
        data.sample.length ? sample : null,
      );
    }

    async function preview(tree) {
      const mine = ++sequence;
      if (!tree) return showMessage("Add a condition to see how many customers match.");
      if (!config.hasRun) return showMessage("No segmentation has run yet, so sizes cannot be previewed; the segment gets members at the next pipeline run.");
      previewBox.setAttribute("aria-busy", "true");
      try {
        const response = await fetch(config.previewUrl, {
          method: "POST",
          credentials: "same-origin",
          headers: { "Content-Type": "application/json", "X-CSRFToken": csrf, Accept: "application/json" },
          body: JSON.stringify({ definition: tree, exclude_segment: config.excludeSegment }),
        });
        const data = await response.json();
        if (mine !== sequence) return;
        if (response.ok) {
          showPreview(data);
        } else {
          const text = markError(data.error);
          previewBox.replaceChildren(el("p", { className: "errorlist preview-error", text: "Cannot preview: " + text }));
        }
      } catch (error) {
        if (mine === sequence) showMessage("The preview is unavailable (" + error.message + ").", "errorlist");
      } finally {
        if (mine === sequence) previewBox.removeAttribute("aria-busy");
      }
    }

    render(null);
    if (config.error) markError(config.error);
  }

  sparklines();
  detailCharts();
  movementCharts();
  builder();
})();
