// Loaded before the body, not deferred: until htmx has bound the page (its deferred scripts run after the
// document is parsed, later still on a slow network), a click or a submit on an htmx control would be lost
// (a button with hx-post does nothing by itself) or misrouted (an hx-post form with no action submits itself
// as a GET of the page). Such an interaction is held and replayed once the page is bound (console.js sends
// "console:bound"). Links keep their own href and are never held. No inline JS anywhere (CSP).
(function () {
  "use strict";
  var VERBS = "[hx-get],[hx-post],[hx-put],[hx-patch],[hx-delete]";
  var bound = false;
  var held = [];
  // The control a click would have htmx act on: a button (with its own hx-* or submitting an htmx form), or an
  // element whose own htmx trigger is a click. Never a link (its href works by itself) and never a region
  // that merely contains the click (a polled list holds ordinary links).
  function control(target) {
    if (!target || !target.closest || target.closest("a[href]")) return null;
    var button = target.closest("button, input[type=submit], input[type=button]");
    if (button) {
      if (button.matches(VERBS)) return button;
      return button.type === "submit" && button.form && button.form.matches(VERBS) ? button : null;
    }
    var elt = target.closest(VERBS);
    if (!elt || elt.matches("form, input, select, textarea")) return null;
    var trigger = elt.getAttribute("hx-trigger");
    return trigger === null || /(^|[\s,])click\b/.test(trigger) ? elt : null;
  }
  document.addEventListener("click", function (event) {
    if (bound) return;
    var elt = control(event.target);
    if (!elt) return;
    event.preventDefault();
    event.stopImmediatePropagation();
    held.push({ elt: elt, replay: function () { elt.click(); } });
  }, true);
  document.addEventListener("submit", function (event) {
    if (bound || !event.target.matches || !event.target.matches(VERBS)) return;
    var form = event.target;
    var submitter = event.submitter || null;
    event.preventDefault();
    event.stopImmediatePropagation();
    held.push({ elt: form, replay: function () { form.requestSubmit(submitter && submitter.form === form ? submitter : undefined); } });
  }, true);
  document.addEventListener("console:bound", function () {
    bound = true;
    // A control a swap removed meanwhile is not replayed: what the operator clicked is gone.
    held.splice(0).forEach(function (h) { if (document.documentElement.contains(h.elt)) h.replay(); });
  });
})();
