// newswatch web view: draws the charts whose data a page carries in <script type="application/json">.
// Loaded from /static (the Content-Security-Policy allows no inline script); Chart.js is vendored.
"use strict";

(function () {
  const palette = ["#2f6db5", "#c2512f", "#3d8b5a", "#8a5fb0", "#b5892f"];

  function draw(canvas) {
    const source = document.getElementById(canvas.dataset.chart);
    if (!source || typeof window.Chart === "undefined") {
      return;
    }
    const data = JSON.parse(source.textContent);
    data.datasets.forEach(function (set, i) {
      set.backgroundColor = palette[i % palette.length];
      set.borderColor = palette[i % palette.length];
      set.tension = 0.2;
      set.maxBarThickness = 48;
    });
    const chart = new window.Chart(canvas, {
      type: canvas.dataset.kind || "bar",
      data: data,
      options: {
        animation: false,
        responsive: true,
        maintainAspectRatio: false,
        scales: { y: { beginAtZero: true, ticks: { precision: 0 } } },
        plugins: { legend: { display: data.datasets.length > 1 } },
      },
    });
    canvas.dataset.drawn = String(chart.data.labels.length);
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("canvas[data-chart]").forEach(draw);
  });
})();
