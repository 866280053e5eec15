// Theme and the phone menu. Loaded un-deferred in <head>: the stored theme is on <html> before the
// first paint, so a dark page never flashes white. No inline script anywhere (CSP).
(function () {
  "use strict";
  var KEY = "rqc-theme";
  var root = document.documentElement;
  var ORDER = ["system", "light", "dark"];
  var NAMES = { system: "system (follows your device)", light: "light", dark: "dark" };
  var MENUS = ["nav-more", "profile-menu"];  // header disclosures that behave like menus

  function stored() {
    try {
      var value = window.localStorage.getItem(KEY);
      return value === "light" || value === "dark" ? value : "system";
    } catch (e) {
      return "system";
    }
  }

  // "system" removes the attribute: the stylesheet then follows prefers-color-scheme.
  function apply(choice) {
    if (choice === "light" || choice === "dark") root.setAttribute("data-theme", choice);
    else root.removeAttribute("data-theme");
  }

  function save(choice) {
    try {
      if (choice === "system") window.localStorage.removeItem(KEY);
      else window.localStorage.setItem(KEY, choice);
    } catch (e) { /* private mode: the choice lasts for this page only */ }
  }

  function label(button, choice) {
    var next = ORDER[(ORDER.indexOf(choice) + 1) % ORDER.length];
    button.setAttribute("data-choice", choice);
    button.setAttribute("aria-label", "Theme: " + NAMES[choice] + ". Switch to " + next);
    button.title = "Theme: " + NAMES[choice] + " (click for " + next + ")";
    var text = button.querySelector(".theme-toggle-label");
    if (text) text.textContent = choice.charAt(0).toUpperCase() + choice.slice(1);
  }

  apply(stored());
  root.classList.add("js");

  // Another tab changed the theme: follow it.
  window.addEventListener("storage", function (event) {
    if (event.key !== KEY && event.key !== null) return;
    apply(stored());
    var button = document.getElementById("theme-toggle");
    if (button) label(button, stored());
  });

  function navToggle() { return document.getElementById("nav-toggle"); }
  function setMenu(open) {
    var button = navToggle();
    if (button) button.setAttribute("aria-expanded", open ? "true" : "false");
  }

  document.addEventListener("click", function (event) {
    var target = event.target;
    if (!target.closest) return;
    var theme = target.closest("#theme-toggle");
    if (theme) {
      var choice = ORDER[(ORDER.indexOf(stored()) + 1) % ORDER.length];
      save(choice);
      apply(choice);
      label(theme, choice);
      return;
    }
    var nav = target.closest("#nav-toggle");
    if (nav) {
      setMenu(nav.getAttribute("aria-expanded") !== "true");
    }
    // The nav's "More" disclosure and the instance switcher close on a click anywhere else, like menus.
    MENUS.forEach(function (id) {
      var menu = document.getElementById(id);
      if (menu && menu.open && !menu.contains(target)) menu.open = false;
    });
  });

  // Escape closes the "More" disclosure (focus back on its summary), else the phone menu (focus back
  // on its button).
  document.addEventListener("keydown", function (event) {
    if (event.key !== "Escape") return;
    var open = MENUS.map(function (id) { return document.getElementById(id); }).filter(function (m) { return m && m.open; });
    if (open.length) {
      open[0].open = false;
      open[0].querySelector("summary").focus();
      return;
    }
    var button = navToggle();
    if (!button || button.getAttribute("aria-expanded") !== "true") return;
    var menu = document.getElementById("topnav");
    if (menu && menu.contains(document.activeElement) || document.activeElement === button) {
      setMenu(false);
      button.focus();
    }
  });

  document.addEventListener("DOMContentLoaded", function () {
    var button = document.getElementById("theme-toggle");
    if (button) label(button, stored());
  });
})();
