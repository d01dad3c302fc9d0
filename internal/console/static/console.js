// Switchboard console: draws the overview's charts with uPlot and keeps
// them fresh. No inline script anywhere (CSP script-src 'self'); htmx does
// the rest from attributes.
(function () {
  'use strict';

  var palette = { events: '#2563eb', done: '#15803d', retry: '#b45309', dead: '#b91c1c' };

  function seriesOf(kind, d) {
    if (kind === 'events') {
      return {
        data: [d.times, d.events],
        series: [{}, { label: 'events/min', stroke: palette.events, width: 2, fill: 'rgba(37,99,235,0.08)' }]
      };
    }
    return {
      data: [d.times, d.outcomes.done, d.outcomes.retry, d.outcomes.dead],
      series: [{},
        { label: 'done/min', stroke: palette.done, width: 2 },
        { label: 'retry/min', stroke: palette.retry, width: 2 },
        { label: 'dead/min', stroke: palette.dead, width: 2 }]
    };
  }

  function draw(el) {
    var req = new XMLHttpRequest();
    req.open('GET', el.getAttribute('data-src'));
    req.setRequestHeader('Accept', 'application/json');
    req.onload = function () {
      if (req.status !== 200) {
        el.textContent = 'The chart could not be loaded (' + req.status + ').';
        return;
      }
      var s = seriesOf(el.getAttribute('data-chart'), JSON.parse(req.responseText));
      if (el._plot) {
        el._plot.setData(s.data);
        return;
      }
      el.textContent = '';
      el._plot = new uPlot({
        width: Math.max(260, el.clientWidth),
        height: 220,
        series: s.series,
        scales: { x: { time: true } },
        axes: [{}, { size: 50 }]
      }, s.data, el);
      el.setAttribute('data-drawn', 'true');
    };
    req.onerror = function () { el.textContent = 'The chart could not be loaded.'; };
    req.send();
  }

  function charts() { return document.querySelectorAll('[data-chart]'); }

  document.addEventListener('DOMContentLoaded', function () {
    if (typeof uPlot === 'undefined') { return; }
    charts().forEach(draw);
    setInterval(function () { charts().forEach(draw); }, 15000);
    var t;
    window.addEventListener('resize', function () {
      clearTimeout(t);
      t = setTimeout(function () {
        charts().forEach(function (el) {
          if (el._plot) { el._plot.setSize({ width: Math.max(260, el.clientWidth), height: 220 }); }
        });
      }, 100);
    });
  });
})();
