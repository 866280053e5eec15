// Charts: every [data-chart] figure is drawn with uPlot (static/vendor/uPlot-*.js) from its data-chart-data
// JSON ({"unit", "x": [epoch s], "series": [{key, label, token, dash, values}]}, see dashboard/web/chartdata.py)
// or, without it, from the JSON at data-chart-src ({"points": [...]} as /api/v1/metrics answers; the series
// named by data-chart-series="key:--token,key:--token").
// Colours are the stylesheet's tokens (getComputedStyle), so a theme change re-draws (theme.js toggles
// html[data-theme]; the system's scheme can change too). Values show on hover (uPlot's legend). Charts resize
// with their container. Live pages refresh through live.js's one scheduler: when a polled region swaps in a
// new figure with the same id, the drawn chart moves into it and takes its data (no flicker, no second timer).
// The numbers are also in the figure's <details> table, rendered by the server.
(function () {
  "use strict";

  var HEIGHT = 200;
  var charts = {};       // figure id -> {u, el, shape, width}
  var openTables = {};   // figure id -> true while its "Table" is open (kept across live swaps)

  window.rqcCharts = {
    get: function (id) { return charts[id] ? charts[id].u : null; },
    ids: function () { return Object.keys(charts); }
  };

  function token(name) {
    var value = window.getComputedStyle(document.documentElement).getPropertyValue(name).trim();
    return value || "#777";
  }

  function seconds(v) {
    if (v < 1) return Math.round(v * 1000) + " ms";
    if (v < 60) return v.toFixed(v < 10 ? 1 : 0) + " s";
    if (v < 3600) return Math.round(v / 60) + " min";
    return (v / 3600).toFixed(1) + " h";
  }
  function formatter(unit) {
    return function (u, v) {
      if (v === null || v === undefined) return "—";
      if (unit === "seconds") return seconds(v);
      if (unit === "percent") return v + " %";
      return String(v);
    };
  }

  function fromPoints(el, body) {
    var points = (body && body.points) || [];
    var named = (el.getAttribute("data-chart-series") || "finished:--ok,failed:--danger").split(",");
    return {
      unit: el.getAttribute("data-chart-unit") || "count",
      x: points.map(function (p) { return p.bucket; }),
      series: named.map(function (pair) {
        var parts = pair.split(":");
        return { key: parts[0], label: parts[0].replace(/_/g, " "), token: parts[1] || "--accent", dash: false,
                 values: points.map(function (p) { return p[parts[0]] === undefined ? null : p[parts[0]]; }) };
      })
    };
  }

  function spec(el) {
    var raw = el.getAttribute("data-chart-data");
    if (!raw) return el._rqcSpec || null;
    try { return JSON.parse(raw); } catch (e) { return null; }
  }
  function columns(s) { return [s.x].concat(s.series.map(function (one) { return one.values; })); }
  function hasValues(s) {
    return s.series.some(function (one) { return one.values.some(function (v) { return v !== null; }); });
  }
  // uPlot hides the points when they are closer than their size (a phone, a 24 h window) and draws only
  // lines between neighbours: a bucket whose neighbours have no data would vanish. Those get their point.
  function lonePoints(u, si, shown) {
    if (shown) return null;
    var d = u.data[si], lone = [];
    for (var i = 0; i < d.length; i++) {
      if (d[i] != null && (i === 0 || d[i - 1] == null) && (i === d.length - 1 || d[i + 1] == null)) lone.push(i);
    }
    return lone.length ? lone : null;
  }
  function shape(s) { return s.unit + "|" + s.series.map(function (one) { return one.key; }).join(","); }

  function options(s, width) {
    var muted = token("--text-muted"), grid = token("--border");
    var font = "12px " + window.getComputedStyle(document.body).fontFamily;
    var format = formatter(s.unit);
    var axis = { stroke: muted, font: font, grid: { stroke: grid, width: 1 }, ticks: { stroke: grid, width: 1 } };
    return {
      width: Math.max(200, width),
      height: HEIGHT,
      scales: { x: { time: true }, y: { range: function (u, min, max) { return [0, max > 0 ? max * 1.1 : 1]; } } },
      series: [{ value: "{YYYY}-{MM}-{DD} {HH}:{mm}" }].concat(s.series.map(function (one) {
        return { label: one.label, stroke: token(one.token), width: 2, dash: one.dash ? [6, 4] : undefined,
                 spanGaps: false, value: format, points: { filter: lonePoints } };
      })),
      axes: [
        Object.assign({}, axis),
        Object.assign({}, axis, { size: 64, values: function (u, values) { return values.map(function (v) { return format(u, v); }); } })
      ],
      legend: { live: true },
      cursor: { drag: { x: false, y: false } }
    };
  }

  function plotOf(el) { return el.querySelector(".chart-plot"); }

  function destroy(id) {
    var entry = charts[id];
    if (!entry) return;
    entry.u.destroy();
    delete charts[id];
  }

  function create(el, s) {
    var plot = plotOf(el);
    plot.textContent = "";
    var width = plot.clientWidth;
    var u = new window.uPlot(options(s, width), columns(s), plot);
    charts[el.id] = { u: u, el: el, shape: shape(s), width: width };
    if (resizer) resizer.observe(plot);
  }

  function draw(el) {
    if (!el.id || !window.uPlot) return;
    var s = spec(el);
    var entry = charts[el.id];
    if (entry && entry.el === el && !el._rqcRedraw) return;
    el._rqcRedraw = false;
    if (openTables[el.id]) {
      var table = el.querySelector(".chart-table");
      if (table) table.open = true;
    }
    if (!s) return;
    if (!hasValues(s)) { destroy(el.id); return; }  // the server's "No data" note stays
    if (entry && entry.el !== el && entry.shape === shape(s)) {
      // A live swap brought a new figure: keep the drawn chart, give it the new numbers.
      var plot = plotOf(el);
      plot.textContent = "";
      plot.appendChild(entry.u.root);
      entry.el = el;
      entry.u.setData(columns(s));
      if (resizer) resizer.observe(plot);
      return;
    }
    destroy(el.id);
    create(el, s);
  }

  function load(el) {
    var src = el.getAttribute("data-chart-src");
    if (!src || el._rqcLoading) return;
    el._rqcLoading = true;
    window.fetch(src, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (body) { el._rqcSpec = fromPoints(el, body); el._rqcRedraw = true; draw(el); })
      .catch(function () { /* the table view still holds the numbers */ })
      .then(function () { el._rqcLoading = false; });
  }

  function scan() {
    document.querySelectorAll("[data-chart]").forEach(function (el) {
      if (!el.hasAttribute("data-chart-data") && el.hasAttribute("data-chart-src") && !el._rqcSpec) load(el);
      else draw(el);
    });
    Object.keys(charts).forEach(function (id) {
      if (!document.body.contains(charts[id].el)) destroy(id);
    });
  }

  function redrawAll() {
    Object.keys(charts).forEach(function (id) {
      var el = charts[id].el;
      destroy(id);
      el._rqcRedraw = true;
      draw(el);
    });
  }

  var resizer = window.ResizeObserver ? new window.ResizeObserver(function (entries) {
    entries.forEach(function (entry) {
      var fig = entry.target.closest("[data-chart]");
      var chart = fig && charts[fig.id];
      var width = Math.floor(entry.contentRect.width);
      if (!chart || chart.el !== fig || width < 1 || Math.abs(width - chart.width) < 2) return;
      chart.width = width;
      chart.u.setSize({ width: Math.max(200, width), height: HEIGHT });
    });
  }) : null;

  document.addEventListener("toggle", function (event) {
    var details = event.target;
    if (!details.classList || !details.classList.contains("chart-table")) return;
    var fig = details.closest("[data-chart]");
    if (fig && fig.id) openTables[fig.id] = details.open;
  }, true);
  // After htmx swapped a region in (before the browser paints), so a moved chart never flickers.
  document.addEventListener("htmx:afterSwap", scan);

  function start() {
    scan();
    new MutationObserver(redrawAll).observe(document.documentElement, { attributes: true, attributeFilter: ["data-theme"] });
    if (window.matchMedia) {
      var scheme = window.matchMedia("(prefers-color-scheme: dark)");
      if (scheme.addEventListener) scheme.addEventListener("change", redrawAll);
    }
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
