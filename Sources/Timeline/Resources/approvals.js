"use strict";
// The approvals inbox stays current while it is open: every few seconds it reads the page again
// and swaps in the new lists, except while the person is writing a reason (it would be lost).
(function () {
  var inbox = document.getElementById("approvals");
  if (!inbox || !window.fetch || !window.DOMParser) { return; }
  var every = Number(inbox.dataset.refresh || 5) * 1000;

  function writing() {
    var reasons = inbox.querySelectorAll("input[name=reason]");
    for (var i = 0; i < reasons.length; i++) {
      if (reasons[i] === document.activeElement || reasons[i].value !== "") { return true; }
    }
    return false;
  }

  function refresh() {
    if (writing()) { setTimeout(refresh, every); return; }
    fetch(location.href, { credentials: "same-origin" })
      .then(function (answer) { return answer.ok ? answer.text() : null; })
      .then(function (html) {
        var fresh = html && new DOMParser().parseFromString(html, "text/html").getElementById("approvals");
        if (fresh && !writing()) { inbox.replaceWith(fresh); inbox = fresh; }
      })
      .catch(function () {})
      .then(function () { setTimeout(refresh, every); });
  }
  setTimeout(refresh, every);
})();
