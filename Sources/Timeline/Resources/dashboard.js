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
