// The console's only script: small behaviours HTMX does not cover. No inline JS anywhere (CSP).
(function () {
  "use strict";

  // Live regions ([data-poll]) skip their refresh while the tab is hidden, and refresh at once
  // when it becomes visible again: no wasted requests in background tabs, no stale view on return.
  document.addEventListener("htmx:beforeRequest", function (event) {
    var elt = event.detail.elt;
    if (document.hidden && elt && elt.hasAttribute && elt.hasAttribute("data-poll")) {
      event.preventDefault();
    }
  });
  document.addEventListener("visibilitychange", function () {
    if (document.hidden || !window.htmx) return;
    document.querySelectorAll("[data-poll]").forEach(function (elt) {
      window.htmx.trigger(elt, "refresh");
    });
  });

  // The "Redis unreachable" page reloads itself once the health check answers 200.
  function watchHealth(elt) {
    var url = elt.getAttribute("data-reload-when-healthy");
    var check = function () {
      if (document.hidden) return setTimeout(check, 2000);
      fetch(url, { credentials: "same-origin", cache: "no-store" })
        .then(function (r) { if (r.ok) { window.location.reload(); } else { setTimeout(check, 2000); } })
        .catch(function () { setTimeout(check, 2000); });
    };
    setTimeout(check, 2000);
  }
  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("[data-reload-when-healthy]").forEach(watchHealth);
  });
})();

// Copy buttons: <button class="copy" data-copy="#id">. Clipboard API where the page is secure,
// else select the text so the operator can press Ctrl-C.
document.addEventListener("click", function (event) {
  var button = event.target.closest && event.target.closest("button.copy");
  if (!button) return;
  var source = document.querySelector(button.getAttribute("data-copy"));
  if (!source) return;
  var text = source.textContent;
  var done = function () { var label = button.textContent; button.textContent = "Copied"; setTimeout(function () { button.textContent = label; }, 1200); };
  if (navigator.clipboard && window.isSecureContext) {
    navigator.clipboard.writeText(text).then(done, function () {});
  } else {
    source.hidden = false;
    var range = document.createRange();
    range.selectNodeContents(source);
    var selection = window.getSelection();
    selection.removeAllRanges();
    selection.addRange(range);
    button.textContent = "Press Ctrl-C";
  }
});
