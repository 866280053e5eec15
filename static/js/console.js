// The console's only script: small behaviours HTMX does not cover. No inline JS anywhere (CSP).
(function () {
  "use strict";

  // Live regions ([data-poll]) are refreshed by static/js/live.js (one scheduler, paused in hidden tabs).

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

// Forms with data-confirm ask first (plain submits and HTMX requests alike).
document.addEventListener("submit", function (event) {
  var form = event.target;
  if (form.hasAttribute && form.hasAttribute("data-confirm") && !form.hasAttribute("hx-post")) {
    if (!window.confirm(form.getAttribute("data-confirm"))) event.preventDefault();
  }
}, true);

// Bulk selection: checkboxes with shift-click ranges, a live count in the buttons, and
// "select all N matching" which makes the server walk the whole state instead of the ids.
(function () {
  var lastChecked = null;
  function form() { return document.getElementById("bulk-form"); }
  function boxes() { return Array.prototype.slice.call(document.querySelectorAll('#jobs input[name="ids"]')); }
  function allMode() { var f = form(); return f && f.elements.all.value === "1"; }
  function refresh() {
    var f = form(); if (!f) return;
    var checked = boxes().filter(function (b) { return b.checked; }).length;
    var total = f.getAttribute("data-total");
    f.querySelectorAll("[data-selected-count]").forEach(function (el) { el.textContent = allMode() ? (total || "all") : checked; });
    f.querySelectorAll("[data-scope]").forEach(function (el) {
      el.textContent = allMode() ? "all " + (total ? Number(total).toLocaleString() + " " : "") + "matching"
                                 : "selected (" + checked + ")";
    });
    var banner = document.getElementById("select-all-banner");
    var pageBox = document.getElementById("select-page");
    if (banner) banner.hidden = !(pageBox && pageBox.checked) || allMode() || (total !== "" && boxes().length >= Number(total));
  }
  document.addEventListener("click", function (event) {
    var t = event.target;
    if (t.id === "select-page") {
      boxes().forEach(function (b) { b.checked = t.checked; });
      if (!t.checked && form()) form().elements.all.value = "0";
      refresh();
    } else if (t.id === "select-all-matching") {
      form().elements.all.value = "1"; refresh();
    } else if (t.matches && t.matches('#jobs input[name="ids"]')) {
      if (event.shiftKey && lastChecked) {
        var list = boxes(), a = list.indexOf(lastChecked), b = list.indexOf(t);
        list.slice(Math.min(a, b), Math.max(a, b) + 1).forEach(function (box) { box.checked = t.checked; });
      }
      lastChecked = t;
      if (!t.checked && form()) form().elements.all.value = "0";
      refresh();
    }
  });
  document.addEventListener("htmx:afterSwap", refresh);
  // After any action (live.js's `rqc:jobs-changed`, sent by the action endpoints) the selection clears:
  // checkboxes, "all matching" mode and the counts in the buttons. Deferred so it runs after the swap.
  document.addEventListener("rqc:jobs-changed", function () {
    setTimeout(function () {
      boxes().forEach(function (b) { b.checked = false; });
      var pageBox = document.getElementById("select-page");
      if (pageBox) pageBox.checked = false;
      if (form()) form().elements.all.value = "0";
      lastChecked = null;
      refresh();
    }, 0);
  });
  // The confirmation states exactly what will happen, and to how many jobs.
  document.addEventListener("htmx:confirm", function (event) {
    var elt = event.detail.elt;
    if (elt.hasAttribute("data-bulk")) {
      event.preventDefault();
      var submitter = event.detail.triggeringEvent && event.detail.triggeringEvent.submitter;
      var verb = submitter ? submitter.getAttribute("data-verb") : "Apply to";
      var total = elt.getAttribute("data-total");
      var count = allMode() ? (total ? Number(total).toLocaleString() + " (all matching)" : "all matching") :
        boxes().filter(function (b) { return b.checked; }).length;
      if (count === 0) { window.alert("Select jobs first, or select all matching."); return; }
      var target = verb === "Move" ? " to queue " + (elt.elements.target.value || "?") : "";
      if (window.confirm(verb + " " + count + " " + elt.getAttribute("data-state") + " job(s) of queue " +
                         elt.getAttribute("data-queue") + target + "?")) {
        event.detail.issueRequest(true);
      }
    } else if (elt.hasAttribute("data-confirm") && elt.hasAttribute("hx-post")) {
      event.preventDefault();
      if (window.confirm(elt.getAttribute("data-confirm"))) event.detail.issueRequest(true);
    }
  });
})();

// Jumping to a job by the short id a table shows: when exactly one row on this page has an id that
// starts with what was typed, go to that job (the server resolves other prefixes within bounds).
document.addEventListener("submit", function (event) {
  var form = event.target;
  if (!form.classList || !form.classList.contains("job-search")) return;
  var input = form.querySelector("input[name=q]");
  var typed = input ? input.value.trim() : "";
  if (!typed) return;
  var found = {};
  document.querySelectorAll("[data-job]").forEach(function (row) {
    var id = row.getAttribute("data-job");
    if (id && id.indexOf(typed) === 0) found[id] = true;
  });
  var ids = Object.keys(found);
  if (ids.length === 1) input.value = ids[0];
});

// A field typed into before htmx bound it (a slow script load, or the settle instant after a swap) would go
// unheard: its inline check never runs and a stale error stays. While htmx binds such a field it holds the
// value it was served (so htmx's "changed" filter remembers that one); afterwards the typed value is put
// back and announced as if typed now. A form bound with its own trigger hears its dirty fields likewise.
(function () {
  var held = [];
  var bound = new WeakSet();  // only the first binding: a re-processed field's value was heard when typed
  function isField(el) { return el.matches && el.matches("input:not([type=hidden]), textarea, select"); }
  function textual(el) {
    return el.tagName === "TEXTAREA" || (el.tagName === "INPUT" && el.type !== "checkbox" && el.type !== "radio");
  }
  function dirty(el) {
    if (el.type === "checkbox" || el.type === "radio") return el.checked !== el.defaultChecked;
    if (el.tagName === "SELECT") {
      return Array.prototype.some.call(el.options, function (o) { return o.selected !== o.defaultSelected; });
    }
    return el.value !== el.defaultValue;
  }
  function announce(el) { el.dispatchEvent(new Event(textual(el) ? "input" : "change", { bubbles: true })); }
  document.addEventListener("htmx:beforeProcessNode", function (event) {
    var elt = event.target;
    if (bound.has(elt)) return;
    bound.add(elt);
    if (isField(elt)) {
      if (!dirty(elt)) return;
      var h = { owner: elt, field: elt, value: null };
      if (textual(elt)) {
        h.value = elt.value; h.start = elt.selectionStart; h.end = elt.selectionEnd;
        elt.value = elt.defaultValue;
      }
      held.push(h);
    } else if (elt.tagName === "FORM" && elt.hasAttribute("hx-trigger")) {
      Array.prototype.forEach.call(elt.elements, function (f) {
        var own = f.hasAttribute("hx-trigger");  // bound (and heard) on its own
        if (!own && isField(f) && dirty(f)) held.push({ owner: elt, field: f, value: null });
      });
    }
  });
  document.addEventListener("htmx:afterProcessNode", function (event) {
    var mine = held.filter(function (h) { return h.owner === event.target; });
    if (!mine.length) return;
    held = held.filter(function (h) { return h.owner !== event.target; });
    mine.forEach(function (h) {
      if (h.value !== null) {
        h.field.value = h.value;
        try { h.field.setSelectionRange(h.start, h.end); } catch (e) { /* not a text field with a caret */ }
      }
      announce(h.field);
    });
  });
})();

// htmx bound the body in its own DOMContentLoaded listener, registered before this script ran: tell early.js,
// which held any click or submit on an htmx control until now.
document.addEventListener("DOMContentLoaded", function () {
  document.dispatchEvent(new Event("console:bound"));
});
