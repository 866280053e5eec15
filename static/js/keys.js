// Keyboard first (issue 13): shortcuts, the shortcut help, the command palette (Ctrl-K / ⌘K) and the
// jump box's suggestions. Letters are ignored while the operator types in a field or holds a modifier;
// every shortcut also has a visible control (partials/shortcut_buttons.html, partials/overlays.html).
(function () {
  "use strict";

  var PENDING_MS = 1500;
  var ROW_ATTRS = ["data-job", "data-queue", "data-schedule", "data-worker"];
  var ROWS = ROW_ATTRS.map(function (a) { return "#main tr[" + a + "]"; }).join(", ");
  var NOT_TYPING = { checkbox: 1, radio: 1, button: 1, submit: 1, reset: 1, image: 1, file: 1, color: 1, range: 1 };

  function byId(id) { return document.getElementById(id); }

  function typing(target) {
    if (!target || !target.closest) return false;
    if (target.isContentEditable) return true;
    var field = target.closest("input, textarea, select, [contenteditable]");
    if (!field) return false;
    if (field.tagName === "INPUT") return !NOT_TYPING[(field.type || "").toLowerCase()];
    if (field.tagName === "TEXTAREA" || field.tagName === "SELECT") return true;
    return field.isContentEditable;
  }

  function safeHref(href) { return href && href.charAt(0) === "/" && href.charAt(1) !== "/" ? href : null; }
  function go(href) { href = safeHref(href); if (href) window.location.assign(href); }

  // ------------------------------------------------------------------ dialogs (help, palette)
  function focusables(dialog) {
    return Array.prototype.filter.call(
      dialog.querySelectorAll("a[href], button:not([disabled]), input:not([disabled]), select, textarea, [tabindex]:not([tabindex='-1'])"),
      function (el) { return el.getClientRects().length > 0; });
  }

  function openDialog(id) {
    var dialog = byId(id);
    if (!dialog || typeof dialog.showModal !== "function") return;
    if (dialog.open) { if (id === "palette") palette.focus(); return; }
    var opener = document.activeElement;
    var other = document.querySelector("dialog.key-dialog[open]");
    if (other) { opener = other.keyOpener || opener; other.keyOpener = null; other.close(); }
    dialog.keyOpener = opener && opener !== document.body ? opener : null;
    dialog.showModal();
    if (id === "palette") { palette.open(); } else { var first = focusables(dialog)[0]; if (first) first.focus(); }
  }

  document.addEventListener("close", function (event) {
    var dialog = event.target;
    if (!dialog.classList || !dialog.classList.contains("key-dialog")) return;
    var opener = dialog.keyOpener;
    dialog.keyOpener = null;
    if (opener && document.contains(opener) && typeof opener.focus === "function") opener.focus();
  }, true);

  document.addEventListener("click", function (event) {
    var t = event.target;
    var opener = t.closest && t.closest("[data-open-dialog]");
    if (opener) { event.preventDefault(); openDialog(opener.getAttribute("data-open-dialog")); return; }
    var closer = t.closest && t.closest("[data-close-dialog]");
    if (closer) { var d = closer.closest("dialog"); if (d) d.close(); return; }
    // A click on the backdrop (the dialog element itself, outside its box) closes it.
    if (t.tagName === "DIALOG" && t.classList.contains("key-dialog") && t.open) {
      var box = t.getBoundingClientRect();
      if (event.clientX < box.left || event.clientX > box.right || event.clientY < box.top || event.clientY > box.bottom) t.close();
    }
  });

  // Focus stays inside an open dialog: Tab from the last control goes to the first, and back.
  document.addEventListener("keydown", function (event) {
    if (event.key !== "Tab") return;
    var dialog = document.querySelector("dialog.key-dialog[open]");
    if (!dialog) return;
    var items = focusables(dialog);
    if (!items.length) return;
    var first = items[0], last = items[items.length - 1];
    var inside = dialog.contains(document.activeElement);
    if (event.shiftKey && (document.activeElement === first || !inside)) { event.preventDefault(); last.focus(); }
    else if (!event.shiftKey && (document.activeElement === last || !inside)) { event.preventDefault(); first.focus(); }
  });

  // ------------------------------------------------------------------ combobox (palette, jump box)
  // ARIA combobox + listbox: the input keeps focus, aria-activedescendant names the chosen option.
  function Combobox(input, listbox, status, options) {
    this.input = input; this.listbox = listbox; this.status = status; this.options = options || {};
    this.active = -1;
    var self = this;
    input.addEventListener("keydown", function (event) { self.onKey(event); });
    listbox.addEventListener("mousedown", function (event) { event.preventDefault(); }); // keep focus in the input
    listbox.addEventListener("click", function (event) {
      var option = event.target.closest && event.target.closest("[role=option]");
      if (option) go(option.getAttribute("data-href"));
    });
  }
  Combobox.prototype.items = function () { return Array.prototype.slice.call(this.listbox.querySelectorAll("[role=option]")); };
  Combobox.prototype.setActive = function (index) {
    var items = this.items();
    this.active = items.length ? Math.max(-1, Math.min(index, items.length - 1)) : -1;
    items.forEach(function (item, i) { item.setAttribute("aria-selected", i === this.active ? "true" : "false"); }, this);
    var chosen = items[this.active];
    if (chosen) { this.input.setAttribute("aria-activedescendant", chosen.id); chosen.scrollIntoView({ block: "nearest" }); }
    else { this.input.removeAttribute("aria-activedescendant"); }
  };
  Combobox.prototype.show = function (visible) {
    if (!this.options.alwaysShown) this.listbox.hidden = !visible;
    this.input.setAttribute("aria-expanded", visible ? "true" : "false");
  };
  // New options arrived: count them, show the server's note, choose the first one when asked to.
  Combobox.prototype.refresh = function () {
    var count = this.items().length;
    var note = this.listbox.querySelector("[data-note]");
    var noteText = note ? note.textContent.trim() : "";
    var counted = count ? count + (count === 1 ? " match" : " matches") : (this.input.value.trim() ? "No matches." : "");
    if (this.status) this.status.textContent = [counted, noteText].filter(Boolean).join(" ");
    this.show(count > 0 && document.activeElement === this.input);
    this.setActive(this.options.autoFirst && count ? 0 : -1);
  };
  Combobox.prototype.clear = function () { this.listbox.innerHTML = ""; this.refresh(); };
  Combobox.prototype.onKey = function (event) {
    var items = this.items();
    if (event.key === "ArrowDown" || event.key === "ArrowUp") {
      if (!items.length) return;
      event.preventDefault();
      this.show(true);
      var step = event.key === "ArrowDown" ? 1 : -1;
      var next = this.active + step;
      if (next < 0) next = items.length - 1;
      if (next >= items.length) next = 0;
      this.setActive(next);
    } else if (event.key === "Enter") {
      var chosen = items[this.active];
      if (chosen && this.input.getAttribute("aria-expanded") === "true") {
        event.preventDefault();
        go(chosen.getAttribute("data-href"));
      }
    } else if (event.key === "Escape" && !this.options.alwaysShown && !this.listbox.hidden) {
      event.preventDefault(); // close the suggestions, keep what was typed
      this.show(false);
      this.setActive(-1);
    }
  };

  // The palette asks /palette?q= (debounced); a late answer for older text is dropped.
  var palette = {
    combo: null, timer: null, seq: 0,
    init: function () {
      var dialog = byId("palette"), input = byId("palette-input");
      if (!dialog || !input) return;
      this.dialog = dialog; this.input = input; this.url = dialog.getAttribute("data-url");
      this.combo = new Combobox(input, byId("palette-listbox"), byId("palette-status"), { autoFirst: true, alwaysShown: true });
      var self = this;
      input.addEventListener("input", function () { self.query(150); });
    },
    open: function () { if (!this.combo) return; this.input.value = ""; this.combo.clear(); this.focus(); this.query(0); },
    focus: function () { if (this.input) { this.input.focus(); this.input.select(); } },
    query: function (delay) {
      var self = this;
      clearTimeout(this.timer);
      this.timer = setTimeout(function () {
        var n = ++self.seq;
        fetch(self.url + "?q=" + encodeURIComponent(self.input.value), { credentials: "same-origin", headers: { "HX-Request": "true" } })
          .then(function (r) { if (!r.ok) throw new Error(String(r.status)); return r.text(); })
          .then(function (html) { if (n === self.seq) { self.combo.listbox.innerHTML = html; self.combo.refresh(); } })
          .catch(function (error) {
            if (n !== self.seq) return;
            self.combo.clear();
            self.combo.status.textContent = error.message === "400" ? "Too long: type at most a job id." : "Cannot search right now.";
          });
      }, delay);
    }
  };

  // The jump box: htmx fetches its suggestions (hx-get in base.html); this makes them navigable.
  var jump = null;
  function initJump() {
    var input = byId("jump-input"), listbox = byId("jump-listbox");
    if (!input || !listbox) return;
    jump = new Combobox(input, listbox, byId("jump-status"), {});
    input.addEventListener("blur", function () { jump.show(false); jump.setActive(-1); });
    input.addEventListener("focus", function () { if (jump.items().length) jump.show(true); });
    input.addEventListener("input", function () { if (!input.value.trim()) jump.clear(); });
  }
  document.addEventListener("htmx:afterSwap", function (event) {
    if (jump && event.detail && event.detail.target === jump.listbox) {
      if (!jump.input.value.trim()) { jump.listbox.innerHTML = ""; }
      jump.refresh();
    }
  });

  // ------------------------------------------------------------------ row cursor (j / k / Enter / o / x)
  var cursor = null; // {attr, value}: survives the live refresh that swaps the rows

  function visibleRows() {
    return Array.prototype.filter.call(document.querySelectorAll(ROWS), function (row) { return row.getClientRects().length > 0; });
  }
  function identity(row) {
    for (var i = 0; i < ROW_ATTRS.length; i++) {
      if (row.hasAttribute(ROW_ATTRS[i])) return { attr: ROW_ATTRS[i], value: row.getAttribute(ROW_ATTRS[i]) };
    }
    return null;
  }
  function cursorRow() {
    if (!cursor) return null;
    var rows = visibleRows();
    for (var i = 0; i < rows.length; i++) {
      if (rows[i].getAttribute(cursor.attr) === cursor.value) return rows[i];
    }
    return null;
  }
  function markCursor(row) {
    document.querySelectorAll("tr.row-cursor").forEach(function (r) { if (r !== row) r.classList.remove("row-cursor"); });
    if (row) row.classList.add("row-cursor");
  }
  function moveCursor(step) {
    var rows = visibleRows();
    if (!rows.length) return;
    var index = rows.indexOf(cursorRow());
    index = index < 0 ? (step > 0 ? 0 : rows.length - 1) : Math.max(0, Math.min(rows.length - 1, index + step));
    var row = rows[index];
    cursor = identity(row);
    markCursor(row);
    row.scrollIntoView({ block: "nearest" });
  }
  document.addEventListener("htmx:afterSettle", function () { if (cursor) markCursor(cursorRow()); });

  // ------------------------------------------------------------------ the shortcuts
  var pending = null;
  function setPending(on) {
    var shown = byId("key-pending");
    clearTimeout(pending);
    pending = on ? setTimeout(function () { setPending(false); }, PENDING_MS) : null;
    if (!shown) return;
    var keys = Array.prototype.map.call(document.querySelectorAll("#shortcuts-help [data-go-key]"), function (a) { return a.getAttribute("data-go-key"); });
    shown.textContent = on ? "g … then " + keys.join(" ") : "";
    shown.classList.toggle("is-pending", !!on);
  }

  function goTo(key) {
    var links = document.querySelectorAll("#shortcuts-help [data-go-key]");
    for (var i = 0; i < links.length; i++) {
      if (links[i].getAttribute("data-go-key") === key) { go(links[i].getAttribute("href")); return true; }
    }
    return false;
  }

  function onNothingFocused() {
    var el = document.activeElement;
    return !el || el === document.body || el === document.documentElement || el.id === "main";
  }

  document.addEventListener("keydown", function (event) {
    if (event.defaultPrevented || event.isComposing) return;
    var key = event.key;
    var anyDialog = document.querySelector("dialog[open]");
    // Ctrl-K / ⌘K: the palette, from anywhere (also while typing), unless another modal is open.
    if ((event.ctrlKey || event.metaKey) && !event.altKey && !event.shiftKey && (key === "k" || key === "K")) {
      if (anyDialog && !anyDialog.classList.contains("key-dialog")) return;
      event.preventDefault();
      openDialog("palette");
      return;
    }
    if (event.ctrlKey || event.metaKey || event.altKey || anyDialog || typing(event.target)) return;
    if (pending) {
      setPending(false);
      if (goTo(key)) event.preventDefault();
      return;
    }
    switch (key) {
      case "/": {
        var box = byId("jump-input");
        if (box) { event.preventDefault(); box.focus(); box.select(); }
        return;
      }
      case "?": event.preventDefault(); openDialog("shortcuts-help"); return;
      case "g": if (!event.shiftKey) { event.preventDefault(); setPending(true); } return;
      case "j": event.preventDefault(); moveCursor(1); return;
      case "k": event.preventDefault(); moveCursor(-1); return;
      case "Enter":
      case "o": {
        var row = cursorRow();
        if (!row || (key === "Enter" && !onNothingFocused())) return;
        var link = row.querySelector("a[href]");
        if (link) { event.preventDefault(); link.click(); }
        return;
      }
      case "x": {
        var current = cursorRow();
        var box2 = current && current.querySelector("input[type=checkbox]");
        // A real click: the bulk selection (console.js) counts on click events.
        if (box2 && !box2.disabled) { event.preventDefault(); box2.click(); }
        return;
      }
      default:
    }
  });

  document.addEventListener("DOMContentLoaded", function () {
    palette.init();
    initJump();
    document.documentElement.setAttribute("data-keys", "ready"); // the shortcuts listen from here on
    if (/Mac|iPhone|iPad/.test(navigator.platform || "")) {
      document.querySelectorAll("[data-mod-key]").forEach(function (el) { el.textContent = "⌘ K"; });
    }
  });
})();
