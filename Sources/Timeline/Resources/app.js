"use strict";
(function () {
  var body = document.querySelector("#events tbody");
  var status = document.getElementById("live-status");
  if (!body || body.dataset.live !== "true" || !window.EventSource) { return; }
  var svg = document.getElementById("timeline");
  var NS = "http://www.w3.org/2000/svg";
  var LEFT = 170, RIGHT = 985;

  function setStatus(text, state) { status.textContent = text; status.className = "live-" + state; }

  function kindClass(kind) {
    var family = kind.split(".")[0], h = 0;
    for (var i = 0; i < family.length; i++) { h = (h * 31 + family.charCodeAt(i)) >>> 0; }
    return "k" + (h % 8);
  }

  function cell(tr, cls, text, inner) {
    var td = document.createElement("td");
    td.className = cls;
    if (inner) { var span = document.createElement("span"); span.className = inner; span.textContent = text; td.appendChild(span); }
    else { td.textContent = text; }
    tr.appendChild(td);
    return td;
  }

  function addRow(e) {
    if (body.querySelector('tr[data-event-id="' + e.id + '"]')) { return false; }
    var tr = document.createElement("tr");
    tr.className = "event-row fresh";
    tr.dataset.eventId = e.id;
    cell(tr, "time", e.time);
    cell(tr, "workflow", e.workflow);
    cell(tr, "agent", e.agent);
    cell(tr, "kind", e.kind, kindClass(e.kind));
    cell(tr, "decision", e.decision, "badge d-" + e.decision);
    var sessionCell = cell(tr, "session", ""), sessionLink = document.createElement("a");
    sessionCell.title = e.session; sessionLink.className = "session-link"; sessionLink.href = "/sessions/" + e.session;
    sessionLink.textContent = e.session.slice(0, 8); sessionCell.appendChild(sessionLink);
    var td = document.createElement("td"), a = document.createElement("a");
    a.className = "detail"; a.href = "/events/" + e.id; a.textContent = "detail";
    td.appendChild(a); tr.appendChild(td);
    body.insertBefore(tr, body.firstChild);
    return true;
  }

  function x(t, min, max) { return max > min ? LEFT + (RIGHT - LEFT) * (t - min) / (max - min) : (LEFT + RIGHT) / 2; }

  // The axis: ticks on round UTC times with dates across midnight, as TimeAxis.swift draws them.
  var SECOND = 1e6, MINUTE = 60 * SECOND, HOUR = 60 * MINUTE, DAY = 24 * HOUR;
  var STEPS = [1, 2, 5, 10, 15, 30].map(function (n) { return n * SECOND; })
    .concat([1, 2, 5, 10, 15, 30].map(function (n) { return n * MINUTE; }))
    .concat([1, 2, 3, 6, 12].map(function (n) { return n * HOUR; }))
    .concat([1, 2, 7, 14, 30, 90, 180, 365].map(function (n) { return n * DAY; }));
  function label(t, step, spansDays) {
    var iso = new Date(t / 1000).toISOString(), date = iso.slice(0, 10), time = iso.slice(11, 19);
    if (step >= DAY) { return date; }
    var clock = step < MINUTE ? time : time.slice(0, 5);
    return spansDays ? date.slice(5) + " " + clock : clock;
  }
  function ticks(min, max) {
    var axis = svg.querySelector("g.axis"), y = Number(axis.dataset.y);
    while (axis.firstChild) { axis.removeChild(axis.firstChild); }
    if (!(max > min)) { return; }
    var step = STEPS[STEPS.length - 1];
    for (var i = 0; i < STEPS.length; i++) { if (Math.floor((max - min) / STEPS[i]) < 6) { step = STEPS[i]; break; } }
    var spansDays = Math.floor(min / DAY) !== Math.floor(max / DAY);
    for (var t = Math.ceil(min / step) * step; t <= max; t += step) {
      var position = x(t, min, max), text = document.createElementNS(NS, "text");
      text.setAttribute("class", position < LEFT + 30 ? "tick-start" : position > RIGHT - 30 ? "tick-end" : "tick-middle");
      text.setAttribute("x", position); text.setAttribute("y", y);
      text.textContent = label(t, step, spansDays);
      axis.appendChild(text);
    }
    var caption = document.getElementById("axis-caption"), first = new Date(min / 1000).toISOString().slice(0, 10), last = new Date(max / 1000).toISOString().slice(0, 10);
    if (caption) { caption.textContent = first === last ? first + " (UTC)" : first + " – " + last + " (UTC)"; }
  }

  function rescale() {
    var min = Number(svg.dataset.min), max = Number(svg.dataset.max);
    ticks(min, max);
    svg.querySelectorAll("circle.event").forEach(function (c) { c.setAttribute("cx", x(Number(c.dataset.t), min, max)); });
    svg.querySelectorAll("g.session").forEach(function (g) {
      var xs = Array.prototype.map.call(g.querySelectorAll("circle"), function (c) { return Number(c.getAttribute("cx")); });
      var line = g.querySelector("line");
      if (xs.length && line) { line.setAttribute("x1", Math.min.apply(null, xs)); line.setAttribute("x2", Math.max.apply(null, xs)); }
    });
  }

  function lane(agent) {
    var found = null;
    svg.querySelectorAll("g.lane").forEach(function (g) { if (g.dataset.agent === agent) { found = g; } });
    if (found) { return found; }
    var view = svg.viewBox.baseVal, y = view.height - 28;
    var g = document.createElementNS(NS, "g");
    g.setAttribute("class", "lane"); g.dataset.agent = agent; g.dataset.y = y; g.dataset.height = 0;
    var rect = document.createElementNS(NS, "rect");
    rect.setAttribute("class", "lane-bg"); rect.setAttribute("x", 0); rect.setAttribute("y", y); rect.setAttribute("width", 1000); rect.setAttribute("height", 0);
    var label = document.createElementNS(NS, "text");
    label.setAttribute("class", "lane-label"); label.setAttribute("x", 6); label.setAttribute("y", y + 14); label.textContent = agent;
    g.appendChild(rect); g.appendChild(label);
    svg.insertBefore(g, svg.querySelector("g.axis"));
    return g;
  }

  function session(g, id) {
    var found = null;
    g.querySelectorAll("g.session").forEach(function (s) { if (s.dataset.session === id) { found = s; } });
    if (found) { return found; }
    var rows = g.querySelectorAll("g.session").length;
    var laneY = Number(g.dataset.y), y = laneY + 12 + rows * 16 + 8;
    var s = document.createElementNS(NS, "g");
    s.setAttribute("class", "session"); s.dataset.session = id; s.dataset.y = y;
    var line = document.createElementNS(NS, "line");
    line.setAttribute("y1", y); line.setAttribute("y2", y);
    s.appendChild(line); g.appendChild(s);
    var height = 12 + (rows + 1) * 16 + 8, grow = height - Number(g.dataset.height);
    if (grow > 0) {
      g.dataset.height = height;
      g.querySelector("rect").setAttribute("height", height);
      var after = false;
      svg.querySelectorAll("g.lane").forEach(function (other) {
        if (other === g) { after = true; return; }
        if (after) { other.setAttribute("transform", "translate(0," + (Number(other.dataset.shift || 0) + grow) + ")"); other.dataset.shift = Number(other.dataset.shift || 0) + grow; }
      });
      var axis = svg.querySelector("g.axis");
      axis.setAttribute("transform", "translate(0," + (Number(axis.dataset.shift || 0) + grow) + ")"); axis.dataset.shift = Number(axis.dataset.shift || 0) + grow;
      var view = svg.viewBox.baseVal;
      svg.setAttribute("viewBox", "0 0 1000 " + (view.height + grow));
    }
    return s;
  }

  function addCircle(e) {
    if (!svg) { return; }
    var s = session(lane(e.agent), e.session);
    var c = document.createElementNS(NS, "circle");
    c.setAttribute("class", "event d-" + e.decision + " " + kindClass(e.kind));
    c.setAttribute("r", 5); c.setAttribute("cy", s.dataset.y);
    c.dataset.eventId = e.id; c.dataset.decision = e.decision; c.dataset.t = e.t;
    var title = document.createElementNS(NS, "title"); title.textContent = e.kind + " · " + e.time; c.appendChild(title);
    var a = document.createElementNS(NS, "a"); a.setAttribute("href", "/events/" + e.id); a.appendChild(c);
    s.appendChild(a);
    if (!svg.dataset.min || Number(svg.dataset.min) === 0 || e.t < Number(svg.dataset.min)) { svg.dataset.min = e.t; }
    if (e.t > Number(svg.dataset.max)) { svg.dataset.max = e.t; }
    rescale();
  }

  var source = new EventSource(body.dataset.stream);
  source.addEventListener("open", function () { setStatus("live", "on"); });
  source.addEventListener("error", function () { setStatus("reconnecting", "off"); });
  source.addEventListener("audit", function (message) {
    var e = JSON.parse(message.data);
    if (addRow(e)) { addCircle(e); }
  });
})();
