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
  function control(target) {
    var elt = target && target.closest ? target.closest(VERBS + ",button,input[type=submit]") : null;
    if (!elt || elt.tagName === "A") return null;
    if (elt.matches(VERBS)) return elt;
    var form = elt.form;  // a submit button: held when its form is an htmx one
    return form && form.matches(VERBS) && (elt.type === "submit") ? elt : null;
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
