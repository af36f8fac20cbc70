// Bot page charts with the vendored uPlot. Messages grow much faster than chats, users and
// commands, so they get the left axis and the three others the right one; latency has its own chart.
(function () {
  "use strict";
  var el = document.getElementById("chart-data") || document.getElementById("answer-data");
  if (!el || !window.uPlot) return;
  var data = JSON.parse(el.textContent);
  // Dark mode (the system's setting, as app.css): brighter lines, light axes and a faint grid.
  var dark = window.matchMedia && window.matchMedia("(prefers-color-scheme: dark)").matches;
  var COLORS = dark
    ? { countMessage: "#58a6ff", countChat: "#bc8cff", countUser: "#3fb950", countCommand: "#d29922", latency: "#ff7b72" }
    : { countMessage: "#0969da", countChat: "#8250df", countUser: "#1a7f37", countCommand: "#bf8700", latency: "#cf222e" };
  var AXIS = dark ? { stroke: "#c9d1d9", grid: "rgba(240, 246, 252, 0.1)" } : { stroke: "#1f2328", grid: "rgba(0, 0, 0, 0.07)" };
  var SCALES = { countMessage: "messages", countChat: "counts", countUser: "counts", countCommand: "counts", latency: "ms" };

  // The container is an empty block: its width is the card's content width.
  function width(node) { return Math.max(240, node.clientWidth || 300); }

  function series(name) {
    return { label: name, scale: SCALES[name], stroke: COLORS[name], width: 2, spanGaps: true, points: { show: data.x.length < 60 } };
  }

  function axes(names) {
    var used = [];
    names.forEach(function (n) { if (used.indexOf(SCALES[n]) < 0) used.push(SCALES[n]); });
    return [{ stroke: AXIS.stroke, grid: { stroke: AXIS.grid }, ticks: { stroke: AXIS.grid } }].concat(used.map(function (scale, i) {
      return { scale: scale, side: i === 0 ? 3 : 1, size: 60, label: scale, stroke: AXIS.stroke, grid: { show: i === 0, stroke: AXIS.grid }, ticks: { stroke: AXIS.grid } };
    }));
  }

  // One point (a new bot) would stretch the time axis over years: show the hour around it.
  function xScale() {
    var scale = { time: true };
    if (data.x.length === 1) { scale.auto = false; scale.range = [data.x[0] - 3600, data.x[0] + 3600]; }
    return scale;
  }

  function draw(id, names) {
    var node = document.getElementById(id);
    if (!node) return null;
    var opts = {
      width: width(node), height: 240,
      series: [{}].concat(names.map(series)),
      axes: axes(names),
      scales: { x: xScale() },
      legend: { live: true },
    };
    var chart = new uPlot(opts, [data.x].concat(names.map(function (n) { return data[n]; })), node);
    node.dataset.rendered = "true";
    return chart;
  }

  var charts = [
    draw("chart-counters", ["countMessage", "countChat", "countUser", "countCommand"]),
    draw("chart-latency", ["latency"]),
  ];
  // Answer times of the answer probe: p50 and p95 per hour, from their own data block.
  var answers = document.getElementById("answer-data");
  if (answers) {
    data = JSON.parse(answers.textContent);
    COLORS.p50 = "#0969da"; COLORS.p95 = "#cf222e"; SCALES.p50 = SCALES.p95 = "ms";
    charts.push(draw("chart-answers", ["p50", "p95"]));
  }
  window.addEventListener("resize", function () {
    charts.forEach(function (c) { if (c) c.setSize({ width: width(c.root.parentNode), height: 240 }); });
  });
})();
