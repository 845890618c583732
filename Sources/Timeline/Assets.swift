/// The stylesheet and the script, served from `/static/` (same origin, as the CSP requires:
/// no inline script or style anywhere).
enum Assets {
    static let css = """
        :root { --allow: #1f9d55; --deny: #d64545; --none: #8a94a6; --ink: #1d2433; --muted: #5b6578; --line: #e3e7ee; --bg: #f7f8fa; }
        * { box-sizing: border-box; }
        body { margin: 0; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", "DejaVu Sans", sans-serif; color: var(--ink); background: var(--bg); }
        nav { display: flex; gap: 18px; align-items: center; padding: 10px 24px; background: #1d2433; color: #fff; }
        nav a { color: #cfd8ea; text-decoration: none; } nav a:hover { color: #fff; }
        nav .brand { font-weight: 600; margin-right: 12px; }
        nav form { margin-left: auto; } nav button { background: none; border: 1px solid #56627a; color: #cfd8ea; border-radius: 4px; padding: 3px 10px; cursor: pointer; }
        main { padding: 16px 24px 40px; max-width: 1400px; }
        h1 { font-size: 20px; margin: 8px 0 14px; } h2 { font-size: 16px; margin: 22px 0 8px; }
        code, pre, td.session, td.fingerprint { font-family: "DejaVu Sans Mono", ui-monospace, monospace; font-size: 12.5px; }
        form#filters { display: flex; flex-wrap: wrap; gap: 10px 14px; align-items: end; background: #fff; border: 1px solid var(--line); border-radius: 6px; padding: 10px 12px; }
        label { display: flex; flex-direction: column; font-size: 12px; color: var(--muted); gap: 2px; }
        input, select { font: inherit; padding: 4px 6px; border: 1px solid #c9d0dc; border-radius: 4px; min-width: 120px; color: var(--ink); }
        button { font: inherit; padding: 5px 12px; border-radius: 4px; border: 1px solid #3b5bdb; background: #3b5bdb; color: #fff; cursor: pointer; }
        a { color: #3b5bdb; }
        .status { color: var(--muted); margin: 10px 0 4px; }
        #live-status { font-weight: 600; padding: 1px 8px; border-radius: 10px; background: #e9ecf2; }
        #live-status.live-on { background: #e3f5ea; color: var(--allow); }
        .legend { color: var(--muted); font-size: 12px; margin: 4px 0 8px; }
        .swatch { display: inline-block; width: 10px; height: 10px; border-radius: 50%; margin: 0 4px 0 10px; vertical-align: -1px; }
        .swatch.d-allow, circle.d-allow { background: var(--allow); fill: var(--allow); }
        .swatch.d-deny, circle.d-deny { background: var(--deny); fill: var(--deny); }
        .swatch.d-none, circle.d-none { background: var(--none); fill: var(--none); }
        svg#timeline { background: #fff; border: 1px solid var(--line); border-radius: 6px; display: block; }
        .lane-bg { fill: #fff; stroke: var(--line); }
        .lane:nth-of-type(even) .lane-bg { fill: #fafbfd; }
        .lane-label { font-size: 12px; fill: var(--ink); font-weight: 600; }
        .session line { stroke: #c3cad6; stroke-width: 1.5; }
        circle.event { stroke-width: 2.5; } circle.event:hover { stroke: #000; }
        circle.k0 { stroke: #3b5bdb; } circle.k1 { stroke: #f08c00; } circle.k2 { stroke: #7048e8; } circle.k3 { stroke: #0c8599; }
        circle.k4 { stroke: #e64980; } circle.k5 { stroke: #5c940d; } circle.k6 { stroke: #862e9c; } circle.k7 { stroke: #495057; }
        span.k0 { color: #3b5bdb; } span.k1 { color: #d9480f; } span.k2 { color: #7048e8; } span.k3 { color: #0c8599; }
        span.k4 { color: #c2255c; } span.k5 { color: #5c940d; } span.k6 { color: #862e9c; } span.k7 { color: #495057; }
        .axis text { font-size: 11px; fill: var(--muted); }
        .tick-start { text-anchor: start; } .tick-middle { text-anchor: middle; } .tick-end { text-anchor: end; }
        .tiles { display: grid; grid-template-columns: repeat(auto-fit, minmax(150px, 1fr)); gap: 12px; margin: 14px 0 6px; }
        .tile { background: #fff; border: 1px solid var(--line); border-radius: 6px; padding: 10px 14px; display: flex; flex-direction: column; }
        .tile .label { font-size: 12px; color: var(--muted); } .tile .value { font-size: 24px; font-weight: 600; }
        .tile .value.d-allow { color: var(--allow); } .tile .value.d-deny { color: var(--deny); }
        .columns { display: grid; grid-template-columns: repeat(auto-fit, minmax(300px, 1fr)); gap: 16px; }
        svg#events-chart { background: #fff; border: 1px solid var(--line); border-radius: 6px; display: block; }
        rect.d-allow { fill: var(--allow); } rect.d-deny { fill: var(--deny); } rect.d-none { fill: var(--none); }
        form#dashboard-filters { display: flex; flex-wrap: wrap; gap: 10px 14px; align-items: end; }
        .ranges a.selected { font-weight: 600; text-decoration: none; color: var(--ink); }
        .caption { color: var(--muted); font-size: 12px; margin: 2px 0 0; text-align: right; }
        .ranges { margin: 8px 0 0; font-size: 12px; } .ranges a.range { margin-right: 10px; }
        .exports { margin-left: 14px; } .exports a { margin-right: 8px; }
        td.tree.depth-1 { padding-left: 26px; } td.tree.depth-2 { padding-left: 44px; } td.tree.depth-3 { padding-left: 62px; }
        td.tree.depth-4 { padding-left: 80px; } td.tree.depth-5 { padding-left: 98px; } td.tree.depth-6 { padding-left: 116px; }
        td.tree.depth-7 { padding-left: 134px; } td.tree.depth-8 { padding-left: 152px; }
        td.tree:not(.depth-0)::before { content: "↳ "; color: var(--muted); }
        input::placeholder { color: #a3abb9; }
        table { border-collapse: collapse; width: 100%; background: #fff; margin-top: 12px; border: 1px solid var(--line); }
        th, td { text-align: left; padding: 5px 8px; border-bottom: 1px solid var(--line); vertical-align: top; word-break: break-all; }
        th { font-size: 12px; color: var(--muted); font-weight: 600; background: #f1f3f7; }
        tr.fresh { animation: fresh 1.5s ease-out; }
        @keyframes fresh { from { background: #fff3bf; } to { background: transparent; } }
        .badge { padding: 1px 7px; border-radius: 9px; font-size: 12px; color: #fff; }
        .badge.d-allow { background: var(--allow); } .badge.d-deny { background: var(--deny); } .badge.d-none { background: var(--none); }
        .problem { color: #a61e1e; background: #fff0f0; border: 1px solid #f3c4c4; padding: 6px 10px; border-radius: 4px; }
        dl { display: grid; grid-template-columns: max-content 1fr; gap: 4px 16px; background: #fff; border: 1px solid var(--line); border-radius: 6px; padding: 10px 14px; }
        dt { color: var(--muted); } dd { margin: 0; word-break: break-all; white-space: pre-wrap; }
        pre#metadata { background: #fff; border: 1px solid var(--line); border-radius: 6px; padding: 10px 14px; overflow: auto; white-space: pre-wrap; word-break: break-all; }
        .verify-intact { color: var(--allow); font-weight: 600; } .verify-tampered { color: var(--deny); font-weight: 600; }
        .verify-unavailable { color: var(--muted); }
        .new-token { background: #fff9db; border: 1px solid #ffe066; padding: 10px 14px; border-radius: 6px; }
        .new-token code { font-size: 14px; user-select: all; }
        .note, .empty { color: var(--muted); }
        section.login { max-width: 360px; margin: 60px auto; background: #fff; padding: 20px 24px; border: 1px solid var(--line); border-radius: 8px; }
        section.login form { display: flex; flex-direction: column; gap: 12px; }
        """

    /// The dashboard's live tiles: each new event in the page's filter and window adds to the
    /// counts, the denial rate and its agent's row; everything else refreshes with the page. The
    /// stream leaves out rows the page's figures already counted.
    static let dashboardJS = """
        (function () {
          var section = document.getElementById("dashboard");
          var status = document.getElementById("live-status");
          if (!section || section.dataset.live !== "true" || !window.EventSource) { return; }
          function bump(id) { var el = document.getElementById(id); if (el) { el.textContent = String(Number(el.textContent) + 1); } }
          function rate(denied, total) { return total > 0 ? (100 * denied / total).toFixed(1) + "%" : "—"; }
          var source = new EventSource(section.dataset.stream);
          source.addEventListener("open", function () { status.textContent = "live"; status.className = "live-on"; });
          source.addEventListener("error", function () { status.textContent = "reconnecting"; status.className = "live-off"; });
          var from = Number(section.dataset.from);
          source.addEventListener("audit", function (message) {
            var e = JSON.parse(message.data);
            if (e.t < from) { return; } // created before the window the figures cover
            bump("tile-total"); bump("tile-" + e.decision);
            document.getElementById("tile-denial-rate").textContent =
              rate(Number(document.getElementById("tile-deny").textContent), Number(document.getElementById("tile-total").textContent));
            document.querySelectorAll("#top-agents tr[data-agent]").forEach(function (row) {
              if (row.dataset.agent !== e.agent) { return; }
              var events = row.querySelector("td.events"), denied = row.querySelector("td.denied");
              events.textContent = String(Number(events.textContent) + 1);
              if (e.decision === "deny") { denied.textContent = String(Number(denied.textContent) + 1); }
              row.querySelector("td.rate").textContent = rate(Number(denied.textContent), Number(events.textContent));
            });
          });
        })();
        """

    /// Live updates: opens the page's event stream and adds each new event to the table and
    /// the SVG. Event text is only ever set with `textContent`, never parsed as HTML.
    static let js = """
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
        """
}
