/* Kring insight dashboards: charts drawn from the accessible data tables on the page.
 *
 * Each <div class="chart-box" data-chart="line|bar|stacked|hbar" data-table="<table id>"
 * data-series="key,key" data-unit="%|hours|days"> gets a Chart.js chart of its table: the first
 * column gives the labels (th[data-label]), the series are the columns whose <th data-key>
 * is listed, and each cell's data-value is the number (as in the CSV export). Without
 * JavaScript, or without Chart.js, the tables are the dashboard. No inline script or style.
 *
 * Also: typing a date in the filters switches the period to "Custom dates".
 */
(function () {
  "use strict";

  var PALETTE = ["#2357c6", "#1d7a46", "#c77700", "#7b3fb5", "#b3261e", "#0e7c86", "#5b6577"];
  var UNITS = { "%": "%", hours: " h", days: " d" };

  function readTable(table, keys) {
    var heads = table.querySelectorAll("thead th");
    var index = {}, names = {};
    for (var i = 0; i < heads.length; i++) {
      index[heads[i].getAttribute("data-key")] = i;
      names[heads[i].getAttribute("data-key")] = heads[i].textContent.trim();
    }
    var labels = [], series = keys.map(function (key) {
      return { key: key, label: names[key] || key, data: [] };
    });
    var rows = table.querySelectorAll("tbody tr");
    for (var r = 0; r < rows.length; r++) {
      var cells = rows[r].children;
      var first = cells[0];
      labels.push(first.getAttribute("data-label") || first.textContent.trim());
      series.forEach(function (s) {
        var cell = cells[index[s.key]];
        var raw = cell ? cell.getAttribute("data-value") : "";
        s.data.push(raw === "" || raw === null ? null : Number(raw));
      });
    }
    return { labels: labels, series: series };
  }

  function draw(box) {
    var table = document.getElementById(box.getAttribute("data-table"));
    var canvas = box.querySelector("canvas");
    if (!table || !canvas) return;
    var type = box.getAttribute("data-chart");
    var unit = UNITS[box.getAttribute("data-unit")] || "";
    var keys = (box.getAttribute("data-series") || "").split(",").filter(Boolean);
    var data = readTable(table, keys);
    var horizontal = type === "hbar";
    var stacked = type === "stacked";
    var line = type === "line";
    if (horizontal) box.style.height = Math.max(200, data.labels.length * 26 + 70) + "px";
    box.hidden = false;
    var valueAxis = {
      beginAtZero: true, stacked: stacked,
      ticks: { callback: function (value) { return value + unit; } }
    };
    if (unit === "%") valueAxis.suggestedMax = 100;
    var labelAxis = { stacked: stacked, ticks: { autoSkip: true, maxRotation: 0 } };
    var reduced = window.matchMedia && window.matchMedia("(prefers-reduced-motion: reduce)").matches;
    /* global Chart */
    new Chart(canvas, {
      type: line ? "line" : "bar",
      data: {
        labels: data.labels,
        datasets: data.series.map(function (s, i) {
          var color = PALETTE[i % PALETTE.length];
          return {
            label: s.label, data: s.data, borderColor: color, backgroundColor: line ? color : color + "cc",
            borderWidth: line ? 2 : 0, pointRadius: line ? 2 : 0, tension: 0, spanGaps: true
          };
        })
      },
      options: {
        indexAxis: horizontal ? "y" : "x",
        responsive: true, maintainAspectRatio: false, animation: reduced ? false : { duration: 300 },
        interaction: { mode: "index", intersect: false },
        plugins: {
          legend: { display: data.series.length > 1, position: "bottom" },
          tooltip: {
            callbacks: {
              label: function (ctx) {
                var v = horizontal ? ctx.parsed.x : ctx.parsed.y;
                return ctx.dataset.label + ": " + (v === null ? "—" : v + unit);
              }
            }
          }
        },
        scales: horizontal ? { x: valueAxis, y: labelAxis } : { x: labelAxis, y: valueAxis }
      }
    });
  }

  function start() {
    if (typeof window.Chart === "undefined") return;  // the tables stay: they are the dashboard
    var boxes = document.querySelectorAll(".chart-box[data-chart]");
    for (var i = 0; i < boxes.length; i++) {
      try { draw(boxes[i]); } catch (err) { boxes[i].hidden = true; }
    }
  }

  function customDates() {
    var form = document.querySelector(".insight-filters");
    if (!form) return;
    form.addEventListener("change", function (event) {
      var name = event.target.getAttribute("name");
      if ((name === "start" || name === "end") && form.elements.period) form.elements.period.value = "custom";
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", function () { start(); customDates(); });
  } else {
    start();
    customDates();
  }
})();
