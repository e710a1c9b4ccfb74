// Campaign pages.
// 1. The builder: shows the fields of the chosen audience source, and keeps the preview panel
//    live: every change posts the step's fields to the preview endpoint (nothing is saved) and
//    draws the audience after each step, the control group's power, overlap, profile and sample
//    recipients with their products. The condition builder is segments.js's own.
// 2. A campaign's page: follows its launch (polls the progress JSON, reloads when it ends) and
//    draws the results charts over EcomCharts / Chart.js.
(function () {
  "use strict";

  const count = new Intl.NumberFormat("en-GB");
  const pounds = new Intl.NumberFormat("en-GB", { style: "currency", currency: "GBP" });
  const PREVIEW_DELAY_MS = 400;
  const PROFILE_ROWS = 6;

  function jsonData(id) {
    const node = document.getElementById(id);
    return node ? JSON.parse(node.textContent) : null;
  }

  function el(tag, attrs, children) {
    const node = document.createElement(tag);
    Object.entries(attrs || {}).forEach(([key, value]) => {
      if (value === undefined || value === null || value === false) return;
      if (key === "text") node.textContent = value;
      else if (key === "className") node.className = value;
      else node.setAttribute(key, value === true ? "" : value);
    });
    (children || []).forEach((child) => child && node.appendChild(typeof child === "string" ? document.createTextNode(child) : child));
    return node;
  }

  function pct(value, digits) {
    return value === null || value === undefined ? "–" : (value * 100).toFixed(digits === undefined ? 1 : digits) + "%";
  }

  function points(value) {
    if (value === null || value === undefined) return "–";
    const text = Math.abs(value * 100).toFixed(1) + " pp";
    return value > 0 ? "+" + text : value < 0 ? "\u2212" + text : text;
  }

  function featureValue(value, unit) {
    if (value === null || value === undefined) return "–";
    if (unit === "currency") return pounds.format(value);
    if (unit === "share") return (value * 100).toFixed(1) + "%";
    return Math.abs(value) >= 100 ? count.format(Math.round(value)) : value.toFixed(1);
  }

  // --- 1. the builder ---------------------------------------------------------------------------

  function audienceSources(form) {
    const radios = form.querySelectorAll("input[name=audience_source]");
    if (!radios.length) return;
    function show() {
      const chosen = form.querySelector("input[name=audience_source]:checked");
      form.querySelectorAll("fieldset[data-source]").forEach((fieldset) => {
        fieldset.hidden = !chosen || fieldset.dataset.source !== chosen.value;
      });
    }
    radios.forEach((radio) => radio.addEventListener("change", show));
    show();
  }

  function funnel(steps) {
    const top = Math.max(1, ...steps.map((s) => s.size));
    return el("ol", { className: "funnel", id: "preview-steps" }, steps.map((step, i) => el("li", {
      className: /^Control group/.test(step.label) ? "funnel-control" : "",
      "data-step": String(i),
    }, [
      el("div", { className: "funnel-head" }, [
        el("span", { className: "funnel-label", text: step.label }),
        el("span", { className: "funnel-size", text: count.format(step.size) }),
      ]),
      el("span", { className: "funnel-bar", "aria-hidden": "true" }, [el("span", { style: "width:" + (100 * step.size / top).toFixed(1) + "%" })]),
      step.removed > 0 ? el("span", { className: "funnel-removed", text: "\u2212" + count.format(step.removed) }) : null,
    ])));
  }

  function powerBlock(data) {
    const power = data.control_power;
    const parts = [el("h3", { text: "Control group" })];
    if (!power.mde) {
      parts.push(el("p", { className: "power-low", id: "preview-power", text: "No control group (or no treatment group): the uplift cannot be measured." }));
      return parts;
    }
    const ok = power.large_enough;
    parts.push(el("p", { id: "preview-power" }, [
      "Smallest detectable uplift: ",
      el("strong", { id: "preview-mde", text: points(power.mde.absolute) }),
      " (" + (power.mde.relative * 100).toFixed(0) + "% relative) on a " + pct(power.baseline_rate) + " baseline conversion, at " + pct(power.power, 0) + " power.",
    ]));
    parts.push(el("p", { className: ok ? "power-ok" : "power-low", id: "preview-power-verdict" }, [
      (ok ? "Large enough" : "Too small") + " to detect a +" + (power.target_uplift * 100).toFixed(0) + "% uplift (" + pct(power.power_at_target, 0) + " chance).",
    ]));
    if (!ok) {
      const need = power.control_share_needed !== null
        ? "A control share of " + pct(power.control_share_needed, 0) + " of this audience would be."
        : "No control share of this audience would be: widen the audience.";
      parts.push(el("p", { className: "muted small", text: need }));
    }
    return parts;
  }

  function profileBlock(profile) {
    if (!profile || !profile.length) return [];
    const rows = profile.filter((f) => f.members_mean !== null).slice(0, PROFILE_ROWS);
    return [
      el("h3", { text: "Profile against everyone" }),
      el("table", { className: "mini", id: "preview-profile" }, [
        el("thead", {}, [el("tr", {}, [el("th", { scope: "col", text: "Mean" }), el("th", { scope: "col", className: "num", text: "Audience" }), el("th", { scope: "col", className: "num", text: "All" })])]),
        el("tbody", {}, rows.map((f) => el("tr", {}, [
          el("th", { scope: "row", text: f.label }),
          el("td", { className: "num", text: featureValue(f.members_mean, f.unit) }),
          el("td", { className: "num", text: featureValue(f.population_mean, f.unit) }),
        ]))),
      ]),
    ];
  }

  function samplesBlock(data) {
    const parts = [el("h3", { text: "Sample recipients" })];
    if (data.content_error) parts.push(el("p", { className: "muted small", id: "preview-content-error", text: data.content_error }));
    if (!data.samples.length) {
      parts.push(el("p", { className: "muted small", text: "Nobody to show." }));
      return parts;
    }
    parts.push(el("ul", { className: "sample-list", id: "preview-samples" }, data.samples.map((s) => el("li", { "data-customer": s.customer_id }, [
      el("a", { href: s.url, text: s.customer_id }),
      s.country ? el("span", { className: "muted small", text: " " + s.country }) : null,
      s.products.length ? el("ol", {}, s.products.map((p) => el("li", {}, [
        el("span", { text: p.title || p.product_id }),
        el("span", { className: "muted", text: " · " + p.reason }),
      ]))) : null,
    ]))));
    return parts;
  }

  function overlapBlock(overlap) {
    if (!overlap.length) return [el("p", { className: "muted small", id: "preview-overlap", text: "No overlap with other scheduled or running campaigns." })];
    return [
      el("h3", { text: "Overlap" }),
      el("ul", { className: "small", id: "preview-overlap" }, overlap.map((o) => el("li", {}, [
        el("strong", { text: count.format(o.shared) }),
        " also in ",
        el("a", { href: o.url, text: o.name }),
        el("span", { className: "muted", text: " (" + o.status + ")" }),
      ]))),
    ];
  }

  function showPreview(box, data) {
    box.replaceChildren(
      el("div", { className: "preview-groups" }, [
        el("p", { className: "preview-figure" }, [el("strong", { id: "preview-treatment", text: count.format(data.treatment) }), data.treatment === 1 ? " recipient" : " recipients"]),
        el("p", { className: "muted" }, [el("span", { id: "preview-control", text: count.format(data.control) }), " held out"]),
      ]),
      el("h3", { text: "Audience, step by step" }),
      funnel(data.steps),
      ...powerBlock(data),
      ...data.notes.map((note) => el("p", { className: "muted small", text: note })),
      ...overlapBlock(data.overlap),
      ...profileBlock(data.profile),
      ...samplesBlock(data),
    );
  }

  function showErrors(box, errors) {
    const items = [];
    Object.entries(errors).forEach(([field, list]) => list.forEach((e) => {
      items.push(el("li", { text: (field === "__all__" ? "" : field.replace(/_/g, " ") + ": ") + e.message }));
    }));
    box.replaceChildren(el("p", { className: "errorlist preview-error", text: "Cannot preview yet:" }), el("ul", { className: "errorlist" }, items));
  }

  function builder() {
    const form = document.getElementById("campaign-form");
    if (!form) return;
    audienceSources(form);
    const config = jsonData("campaign-preview-config");
    const box = document.getElementById("campaign-preview");
    if (!config || !box) return;
    let timer = null;
    let sequence = 0;

    async function refresh() {
      const mine = ++sequence;
      const body = new FormData(form);
      body.set("step", config.step);
      box.setAttribute("aria-busy", "true");
      try {
        const response = await fetch(config.url, {
          method: "POST",
          credentials: "same-origin",
          headers: { Accept: "application/json", "X-CSRFToken": body.get("csrfmiddlewaretoken") },
          body: body,
        });
        const data = await response.json();
        if (mine !== sequence) return;
        if (response.ok) showPreview(box, data);
        else if (data.errors) showErrors(box, data.errors);
        else box.replaceChildren(el("p", { className: "errorlist preview-error", text: data.error || "The preview failed." }));
      } catch (error) {
        if (mine === sequence) box.replaceChildren(el("p", { className: "errorlist", text: "The preview is unavailable (" + error.message + ")." }));
      } finally {
        if (mine === sequence) box.removeAttribute("aria-busy");
      }
    }

    function later() {
      clearTimeout(timer);
      timer = setTimeout(refresh, PREVIEW_DELAY_MS);
    }
    form.addEventListener("input", later);
    form.addEventListener("change", later);
    // The condition builder rewrites its JSON whenever the rule changes (also on clicks).
    const ruleJson = document.getElementById("rule-json");
    if (ruleJson) new MutationObserver(later).observe(ruleJson, { childList: true, characterData: true, subtree: true });
    refresh();
  }

  // --- 2. a campaign's page ---------------------------------------------------------------------

  function launchProgress() {
    const card = document.getElementById("launch-live");
    if (!card || card.dataset.live !== "1") return;
    const bar = document.getElementById("launch-bar");
    const badge = document.getElementById("launch-status");
    const message = document.getElementById("launch-message");

    async function poll() {
      try {
        const response = await fetch(card.dataset.progressUrl, { headers: { Accept: "application/json" } });
        if (response.ok) {
          const data = await response.json();
          if (data.run) {
            bar.value = data.progress;
            message.textContent = data.message;
            badge.textContent = data.status_label;
            badge.className = "status status-" + data.status;
          }
          if (data.finished) {
            setTimeout(() => window.location.reload(), 800);
            return;
          }
        }
      } catch (e) { /* the server may be restarting: try again */ }
      setTimeout(poll, 1000);
    }
    setTimeout(poll, 500);
  }

  function resultCharts() {
    const charts = jsonData("campaign-results-charts");
    if (!charts || !window.EcomCharts) return;
    const groups = ["Treatment", "Control"];
    const pair = (metric) => [metric.treatment, metric.control];
    const suffix = charts.provisional ? " (so far)" : "";
    EcomCharts.render("chart-groups", {
      title: "Conversion rate: treatment vs control" + suffix,
      labels: groups, xTitle: "Group", yTitle: "Recipients who bought", yKind: "percent",
      datasets: [{ label: "Conversion rate", data: pair(charts.conversion), kind: "percent" }],
    });
    EcomCharts.render("chart-revenue", {
      title: "Revenue per recipient" + suffix,
      labels: groups, xTitle: "Group", yTitle: "Revenue per recipient", yKind: "money",
      datasets: [{ label: "Revenue per recipient", data: pair(charts.revenue), kind: "money" }],
    });
    EcomCharts.render("chart-items", {
      title: "Items per recipient" + suffix,
      labels: groups, xTitle: "Group", yTitle: "Items per recipient",
      datasets: [{ label: "Items per recipient", data: pair(charts.items) }],
    });
    upliftChart(charts);
  }

  // Relative uplift of each metric: its interval as a floating bar, the estimate as a point,
  // and 0 (no effect) marked: an interval that crosses 0 is no evidence either way.
  function upliftChart(charts) {
    const canvas = document.getElementById("chart-uplift");
    if (!canvas || !window.Chart) return;
    const rows = charts.uplifts.filter((u) => u.relative !== null);
    const level = Math.round(charts.confidence * 100) + "% interval";
    // A ratio minus one never goes below -100%; small groups give intervals up to thousands of
    // per cent, which would flatten everything else: the axis stops at twice the largest estimate
    // (at least +100%, at most +500%, on a half) and the tooltips keep the whole interval.
    const largest = Math.max(1, ...rows.map((u) => Math.abs(u.relative) * 2));
    const top = Math.min(5, Math.ceil(largest * 2) / 2);
    const lowest = Math.min(-0.5, ...rows.map((u) => (u.low === null ? 0 : u.low)));
    const bottom = Math.max(-1, Math.floor(lowest * 4) / 4);
    new window.Chart(canvas, {
      type: "bar",
      data: {
        labels: rows.map((u) => u.label),
        datasets: [
          {
            label: level,
            data: rows.map((u) => (u.low === null ? null : [Math.max(u.low, bottom), Math.min(u.high, top)])),
            backgroundColor: rows.map((u) => (u.low > 0 ? "#2f9e6ecc" : u.high < 0 ? "#b3261ecc" : "#8a8f99aa")),
            minBarLength: 2,
            borderWidth: 0,
            barPercentage: 0.5,
          },
          {
            label: "Estimate",
            type: "scatter",
            data: rows.map((u, i) => ({ x: u.relative, y: i })),
            backgroundColor: "#1d2330",
            pointRadius: 5,
          },
        ],
      },
      options: {
        indexAxis: "y",
        responsive: true,
        maintainAspectRatio: false,
        animation: false,
        plugins: {
          title: { display: true, text: "Uplift, treatment over control (relative)", font: { size: 15, weight: "600" }, align: "start" },
          legend: { position: "bottom" },
          tooltip: {
            callbacks: {
              label: (ctx) => {
                const u = rows[ctx.dataIndex];
                const interval = u.low === null ? "no interval" : "[" + pct(u.low) + ", " + pct(u.high) + "]";
                return u.label + ": " + pct(u.relative) + " " + interval;
              },
            },
          },
        },
        scales: {
          x: {
            min: bottom,
            max: top,
            title: { display: true, text: "Treatment ÷ control − 1 (0% = no effect)" },
            ticks: { callback: (v) => Math.round(v * 100) + "%" },
            grid: { color: (ctx) => (ctx.tick && ctx.tick.value === 0 ? "#5b6475" : "#e6e9ef") },
          },
          y: { type: "category", labels: rows.map((u) => u.label), title: { display: true, text: "Metric" }, grid: { display: false } },
        },
      },
    });
  }

  builder();
  launchProgress();
  resultCharts();
})();
