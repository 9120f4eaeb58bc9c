// wxflow console: zoom and pan a flow's diagram (the flow page). Plain
// JavaScript, no build step; without it the diagram still shows, whole.
//
// The mouse wheel zooms at the pointer, dragging pans, the buttons zoom
// and reset. With the diagram focused (click it, or Tab to it): + and -
// zoom, the arrow keys pan, f fits the whole diagram, 0 resets. It
// changes the SVG's viewBox; the container's data-zoom says the zoom (1
// is the first view: the diagram at its own size, or the box's width).
(function () {
  "use strict";
  var box = document.getElementById("diagram");
  var svg = box && box.querySelector("svg");
  if (!svg) return;
  var vb0 = svg.getAttribute("viewBox");
  if (!vb0) return;
  var init = vb0.split(/[\s,]+/).map(Number);
  if (init.length !== 4 || !(init[2] > 0) || !(init[3] > 0)) return;
  var MIN = 0.05, MAX = 8, STEP = 1.25;

  // The diagram fills the width of its box, at its own size (smaller
  // when wider than the box), in a box no taller than most of the
  // window: what does not fit is reached by zooming and panning. base is
  // that first view, which Reset returns to; Fit shows the whole diagram.
  box.classList.add("zoomable");
  svg.setAttribute("width", "100%");
  svg.removeAttribute("height");
  svg.style.maxWidth = "none";
  var bw = svg.getBoundingClientRect().width || init[2];
  var s = Math.min(1, bw / init[2]);
  var bh = Math.max(Math.min(init[3] * s, window.innerHeight * 0.7), 160);
  svg.style.height = bh + "px";
  var base = [init[0] - Math.max(0, bw / s - init[2]) / 2, init[1], bw / s, bh / s];
  var v = base.slice(); // x, y, width, height shown
  var tools = document.createElement("div");
  tools.className = "diagram-tools";
  tools.innerHTML = '<button type="button" data-act="in" title="zoom in (+)">+</button>' +
    '<button type="button" data-act="out" title="zoom out (-)">\u2212</button>' +
    '<button type="button" data-act="fit" title="the whole diagram (f)">Fit</button>' +
    '<button type="button" data-act="reset" title="back to the start (0)">Reset</button>' +
    '<span class="zoom-level" aria-live="polite"></span>' +
    '<span class="muted">wheel to zoom, drag to move; keys + - f 0 and arrows</span>';
  box.parentNode.insertBefore(tools, box);
  var level = tools.querySelector(".zoom-level");

  function zoom() { return base[2] / v[2]; }
  function show() {
    svg.setAttribute("viewBox", v.map(function (n) { return +n.toFixed(2); }).join(" "));
    var z = zoom();
    box.setAttribute("data-zoom", z.toFixed(2));
    level.textContent = Math.round(z * 100) + "%";
  }
  // zoomBy zooms by f, keeping the diagram point (cx, cy) where it is.
  function zoomBy(f, cx, cy) {
    var z = Math.min(MAX, Math.max(MIN, zoom() * f));
    var w = base[2] / z, h = base[3] / z;
    if (cx === undefined) { cx = v[0] + v[2] / 2; cy = v[1] + v[3] / 2; }
    v = [cx - (cx - v[0]) * w / v[2], cy - (cy - v[1]) * h / v[3], w, h];
    show();
  }
  // units is how many diagram units a screen pixel is.
  function units() {
    var r = svg.getBoundingClientRect();
    return Math.max(v[2] / r.width, v[3] / r.height);
  }
  function panBy(dx, dy) { // in screen pixels
    var u = units();
    v[0] -= dx * u;
    v[1] -= dy * u;
    show();
  }
  // at is the diagram point under a mouse event.
  function at(e) {
    var r = svg.getBoundingClientRect(), u = units();
    // preserveAspectRatio xMidYMid meet: the view is centred in the box.
    var ox = (r.width - v[2] / u) / 2, oy = (r.height - v[3] / u) / 2;
    return [v[0] + (e.clientX - r.left - ox) * u, v[1] + (e.clientY - r.top - oy) * u];
  }
  function reset() { v = base.slice(); show(); }
  // fit shows the whole diagram, centred.
  function fit() {
    var z = Math.min(1, base[2] / init[2], base[3] / init[3]);
    var w = base[2] / z, h = base[3] / z;
    v = [init[0] - (w - init[2]) / 2, init[1] - (h - init[3]) / 2, w, h];
    show();
  }

  tools.addEventListener("click", function (e) {
    var act = e.target.getAttribute && e.target.getAttribute("data-act");
    if (act === "in") zoomBy(STEP);
    else if (act === "out") zoomBy(1 / STEP);
    else if (act === "fit") fit();
    else if (act === "reset") reset();
  });
  box.addEventListener("wheel", function (e) {
    e.preventDefault();
    var p = at(e);
    zoomBy(Math.pow(1.0015, -e.deltaY), p[0], p[1]);
  }, { passive: false });
  box.addEventListener("keydown", function (e) {
    if (e.altKey || e.ctrlKey || e.metaKey) return;
    var step = 40;
    switch (e.key) {
      case "+": case "=": zoomBy(STEP); break;
      case "-": case "_": zoomBy(1 / STEP); break;
      case "0": reset(); break;
      case "f": fit(); break;
      case "ArrowLeft": panBy(step, 0); break;
      case "ArrowRight": panBy(-step, 0); break;
      case "ArrowUp": panBy(0, step); break;
      case "ArrowDown": panBy(0, -step); break;
      default: return;
    }
    e.preventDefault();
  });
  var drag = null;
  box.addEventListener("pointerdown", function (e) {
    if (e.button !== 0) return;
    drag = { x: e.clientX, y: e.clientY };
    box.setPointerCapture(e.pointerId);
    box.classList.add("dragging");
  });
  box.addEventListener("pointermove", function (e) {
    if (!drag) return;
    panBy(e.clientX - drag.x, e.clientY - drag.y);
    drag = { x: e.clientX, y: e.clientY };
  });
  function stop(e) {
    if (!drag) return;
    drag = null;
    box.classList.remove("dragging");
    if (box.hasPointerCapture(e.pointerId)) box.releasePointerCapture(e.pointerId);
  }
  box.addEventListener("pointerup", stop);
  box.addEventListener("pointercancel", stop);
  show();
})();
