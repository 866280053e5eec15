// Live: ONE scheduler refreshes every self-refreshing region ([data-poll], hx-trigger="refresh") at the
// interval the operator chose (localStorage "rqc-refresh", default the server's POLL_SECONDS); a topbar
// indicator says whether the page is live, paused or degraded; and the `rqc:jobs-changed` event that
// action endpoints send (HX-Trigger) makes the page tell the truth at once: counts and lists refresh,
// deleted rows leave, and a message says what happened and fades when it no longer describes the page.
// Bulk progress bars keep htmx's own `every 1s` polling: they are always on while an operation runs.
(function () {
  "use strict";

  var STORE = "rqc-refresh";
  var SLOW_MS = 1500;       // a poll slower than this makes the page "Degraded"
  var MIN_SHOW_MS = 3000;   // a message stays at least this long, even when the data moves on
  var REGIONS = "[data-poll], [data-refresh-on-change]";

  var live = window.rqcLive = { fadeAfterMs: 8000 };
  var indicator, stateEl, ageEl, select;
  var timer = null;
  var lastOk = Date.now();
  var degraded = "";        // why the last poll was not good, or ""
  var again = {};           // ids of regions to refresh once more when their request in flight ends
  var followups = {};       // ids of regions refreshing after an action: the message's baseline waits for them
  var changing = false;     // an action's answer is being swapped in
  var baseline = null;      // what the data looked like when the message was shown (see fingerprint)

  function choice() {
    if (select) return select.value;
    return (indicator && indicator.getAttribute("data-default-seconds")) || "2";
  }
  function isOff() { return choice() === "off"; }
  function seconds() { return Math.max(0.5, Number(choice()) || 2); }
  function regions() { return document.querySelectorAll("[data-poll]"); }
  function isRegion(elt) { return !!(elt && elt.matches && elt.matches(REGIONS)); }

  // ---------------------------------------------------------------- the indicator

  function age(ms) {
    var s = Math.max(0, Math.floor(ms / 1000));
    if (s < 60) return s + " s";
    if (s < 3600) return Math.floor(s / 60) + " min";
    return Math.floor(s / 3600) + " h";
  }
  function state() {
    if (isOff()) return ["paused-by-you", "Paused by you"];
    if (document.hidden) return ["paused", "Paused"];
    if (degraded) return ["degraded", "Degraded · " + degraded];
    return ["live", "Live"];
  }
  function render() {
    if (!indicator) return;
    var shown = regions().length > 0;
    if (indicator.hidden === shown) indicator.hidden = !shown;
    if (!shown) return;
    var s = state();
    // Only a change of state touches the polite live region: a screen reader hears "Paused", not every tick.
    if (indicator.getAttribute("data-state") !== s[0]) indicator.setAttribute("data-state", s[0]);
    if (stateEl.textContent !== s[1]) stateEl.textContent = s[1];
    var since = age(Date.now() - lastOk);
    ageEl.textContent = "· updated " + since + " ago";
    indicator.title = "Last successful refresh " + since + " ago";
  }

  // ---------------------------------------------------------------- the scheduler

  function schedule() {
    clearTimeout(timer);
    timer = null;
    if (isOff() || !regions().length) return;
    timer = setTimeout(tick, seconds() * 1000);
  }
  function tick() {
    timer = null;
    if (!document.hidden && !isOff()) regions().forEach(function (elt) { refresh(elt, false); });
    schedule();
  }
  // One request per region at a time: a region still waiting for its answer is skipped (a scheduled tick)
  // or refreshed again as soon as that answer is in (after an action, whose effect it may not show yet).
  function refresh(elt, afterAction) {
    if (!window.htmx || !elt) return;
    if (elt._rqcSince) {
      if (afterAction && elt.id) again[elt.id] = true;
      return;
    }
    window.htmx.trigger(elt, "refresh");
  }

  document.addEventListener("htmx:beforeRequest", function (event) {
    var elt = event.detail.elt;
    if (!isRegion(elt)) return;
    if (document.hidden && elt.hasAttribute("data-poll") && !(elt.id && followups[elt.id])) {
      event.preventDefault();  // a background tab costs no requests; it refreshes when it is shown
      return;
    }
    elt._rqcSince = Date.now();
  });
  // A list refreshed after an action asks for what the address bar shows (filters and page included).
  document.addEventListener("htmx:configRequest", function (event) {
    var elt = event.detail.elt;
    if (elt && elt.hasAttribute && elt.hasAttribute("data-refresh-on-change") && event.detail.verb === "get") {
      event.detail.path = window.location.pathname + window.location.search;
    }
    // A region's hx-headers reach every control inside it: only the region's own refresh is a poll (a poll
    // does not extend the session and may be answered 304); an operator's action or filter there is not.
    var own = elt && elt.getAttribute && elt.getAttribute("hx-headers");
    if (event.detail.headers["X-Console-Poll"] && !(own && own.indexOf("X-Console-Poll") !== -1)) {
      delete event.detail.headers["X-Console-Poll"];
    }
  });
  // Redis down: a region that would swap itself away (outerHTML, or a target around it) keeps its last
  // content and the indicator says "Degraded"; an inner region shows the "Redis is unreachable" notice.
  document.addEventListener("htmx:beforeSwap", function (event) {
    var elt = event.detail.elt;
    if (!isRegion(elt) || !event.detail.xhr || event.detail.xhr.status !== 503) return;
    var swap = (elt.getAttribute("hx-swap") || "innerHTML").split(" ")[0];
    if (event.detail.target !== elt || swap !== "innerHTML") event.detail.shouldSwap = false;
    // Already showing it: swapping the same alert in again would have screen readers repeat it each poll.
    if (elt.querySelector("#redis-down")) event.detail.shouldSwap = false;
  });
  document.addEventListener("htmx:afterRequest", function (event) {
    var elt = event.detail.elt;
    if (!isRegion(elt) || !elt._rqcSince) return;
    var took = Date.now() - elt._rqcSince;
    elt._rqcSince = 0;
    var status = event.detail.xhr ? event.detail.xhr.status : 0;
    if (elt.hasAttribute("data-poll")) {
      if (status === 503) degraded = "Redis unreachable";
      else if (status === 0) degraded = "console unreachable";
      else if (status >= 400) degraded = "error " + status;
      else if (took > SLOW_MS) degraded = "slow (" + (took / 1000).toFixed(1) + " s)";
      else degraded = "";
      if (status >= 200 && status < 300) lastOk = Date.now();
    }
    if (status < 200 || status >= 300) { if (elt.id) delete followups[elt.id]; settled(); }
    render();
  });
  document.addEventListener("htmx:afterSettle", function (event) {
    var elt = event.detail.elt;
    var id = elt && elt.id;
    if (id && followups[id]) delete followups[id];
    Object.keys(again).forEach(function (key) {
      var region = document.getElementById(key);
      if (region && !region._rqcSince) { delete again[key]; followups[key] = true; refresh(region, true); }
    });
    if (isRegion(elt) || (elt && elt.querySelector && elt.querySelector(REGIONS))) settled();
    render();
    if (!timer) schedule();
  });
  document.addEventListener("visibilitychange", function () {
    render();
    if (document.hidden || isOff()) return;
    regions().forEach(function (elt) { refresh(elt, false); });  // at once, not at the next tick
    schedule();
  });

  // ---------------------------------------------------------------- messages that fade

  // What the message talks about: the counts of the live regions and the rows of the list.
  function fingerprint() {
    var parts = [];
    document.querySelectorAll("[data-poll] .count, [data-poll] [data-total], [data-poll] td[data-state], [data-poll] #job-status")
      .forEach(function (el) { parts.push(el.textContent.trim()); });
    document.querySelectorAll("[data-refresh-on-change] tr[data-job]")
      .forEach(function (tr) { parts.push(tr.getAttribute("data-job") + ":" + tr.className); });
    return parts.join("|");
  }
  function busy() { return changing || Object.keys(followups).length > 0; }
  // A data refresh landed: the first after an action is the baseline the message describes; a later one
  // that looks different means the message no longer describes the page.
  function settled() {
    if (busy()) return;
    var now = fingerprint();
    if (baseline === null) { baseline = now; return; }
    if (now !== baseline) {
      flashBanners().forEach(function (banner) { banner._rqcStale = true; });
      baseline = now;
    }
  }
  function flashBox() { return document.getElementById("flash"); }
  function flashBanners() {
    var box = flashBox();
    return box ? Array.prototype.slice.call(box.querySelectorAll(":scope > .banner")) : [];
  }
  function engaged(banner) { return banner.matches(":hover") || banner.contains(document.activeElement); }
  function remove(banner) {
    if (banner._rqcGone) return;
    banner._rqcGone = true;
    var focused = banner.contains(document.activeElement);
    banner.classList.add("is-fading");
    var done = function () { if (banner.parentNode) banner.parentNode.removeChild(banner); };
    var reduced = window.matchMedia && window.matchMedia("(prefers-reduced-motion: reduce)").matches;
    if (reduced) done(); else setTimeout(done, 600);
    if (focused) { var main = document.getElementById("main"); if (main) main.focus(); }
  }
  function adopt(banner) {
    if (banner._rqcShownAt) return;
    banner._rqcShownAt = Date.now();
    banner.classList.add("flash-message");
    // Errors (role=alert) stay until dismissed: they say what the operator still has to deal with.
    banner._rqcTransient = banner.getAttribute("role") !== "alert" && !banner.classList.contains("banner-danger");
    var button = document.createElement("button");
    button.type = "button";
    button.className = "flash-dismiss";
    button.setAttribute("aria-label", "Dismiss message");
    button.textContent = "×";
    button.addEventListener("click", function () { remove(banner); });
    banner.appendChild(button);
    if (!busy()) baseline = fingerprint();
  }
  function adoptAll() { flashBanners().forEach(adopt); }
  function sweep() {
    var now = Date.now();
    flashBanners().forEach(function (banner) {
      if (!banner._rqcShownAt || !banner._rqcTransient || banner._rqcGone) return;
      if (engaged(banner)) {  // kept while read: a couple of seconds more once the pointer or focus leaves
        banner._rqcShownAt = Math.max(banner._rqcShownAt, now - live.fadeAfterMs + 2000);
        return;
      }
      var shown = now - banner._rqcShownAt;
      if (shown >= live.fadeAfterMs || (banner._rqcStale && shown >= MIN_SHOW_MS)) remove(banner);
    });
  }
  function showMessage(text, ok) {
    var box = flashBox();
    if (!box || !text) return;
    var banner = document.createElement("div");
    banner.className = "banner " + (ok ? "banner-ok" : "banner-danger");
    banner.setAttribute("role", ok ? "status" : "alert");
    banner.textContent = text;
    box.textContent = "";
    box.appendChild(banner);
    adopt(banner);
  }
  live.showMessage = showMessage;

  // ---------------------------------------------------------------- after an action

  document.addEventListener("rqc:jobs-changed", function (event) {
    var detail = event.detail || {};
    changing = true;  // the answer is swapped in next: the baseline waits for the refreshes below
    baseline = null;
    flashBanners().forEach(function (banner) { banner._rqcStale = false; });
    setTimeout(function () {
      (detail.removed || []).forEach(function (id) {
        var row = document.getElementById("row-" + id);
        if (row) row.parentNode.removeChild(row);
      });
      if (detail.message && !detail.shown) showMessage(detail.message, detail.ok !== false);
      var targets = Array.prototype.slice.call(regions());
      if (detail.scope === "bulk") {
        targets = targets.concat(Array.prototype.slice.call(document.querySelectorAll("[data-refresh-on-change]")));
      }
      targets.forEach(function (elt) { if (elt.id) followups[elt.id] = true; refresh(elt, true); });
      setTimeout(function () { followups = {}; settled(); }, 5000);  // never wait for a lost answer
      changing = false;
      settled();
    }, 0);
  });

  // ---------------------------------------------------------------- start

  function start() {
    indicator = document.getElementById("live-indicator");
    if (indicator) {
      stateEl = document.getElementById("live-state");
      ageEl = document.getElementById("live-age");
      select = document.getElementById("live-refresh");
      var stored = null;
      try { stored = window.localStorage.getItem(STORE); } catch (e) { stored = null; }
      if (stored && select.querySelector('option[value="' + stored.replace(/[^0-9.a-z]/g, "") + '"]')) select.value = stored;
      select.addEventListener("change", function () {
        try { window.localStorage.setItem(STORE, select.value); } catch (e) { /* private mode: this tab only */ }
        render();
        if (!isOff() && !document.hidden) regions().forEach(function (elt) { refresh(elt, false); });
        schedule();
      });
    }
    var box = flashBox();
    if (box && window.MutationObserver) new MutationObserver(adoptAll).observe(box, { childList: true });
    adoptAll();
    render();
    schedule();
    setInterval(function () { render(); sweep(); }, 500);
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
