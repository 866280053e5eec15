// Live events: the /events feed and the job page. Both long-poll the feed's JSON (/events/poll, the session's
// twin of GET /api/v1/events) from a cursor, so an event shows within about a second instead of at the next
// poll. The feed adds rows (DOM APIs and textContent only: event data is never parsed as HTML), keeps at most
// data-max-rows of them, pauses on request and while the tab is hidden, and reconnects with a growing delay
// after an error. The job page does not poll anything new: an event for its job triggers the refresh the
// page's live region already has (live.js conventions: hx-trigger="refresh"), at once.
(function () {
  "use strict";

  var WAIT_SECONDS = 25;
  var BUSY_DELAY_MS = 2000;     // the server had no free waiting slot: it answered at once; ask again later
  var MIN_RETRY_MS = 1000;
  var MAX_RETRY_MS = 30000;
  var WORKER_TYPES = { started: 1, finished: 1, failed: 1, retry_scheduled: 1, stopped: 1, abandoned: 1 };

  // One long-poll loop: poll(url, cursor) -> onEvents(list) ... until stop(). `held()` pauses it.
  function Loop(url, cursor, onEvents, onState, held) {
    this.url = url;
    this.cursor = cursor || "";
    this.onEvents = onEvents;
    this.onState = onState || function () {};
    this.held = held || function () { return document.hidden; };
    this.retry = 0;
    this.timer = null;
    this.request = null;
    this.stopped = false;
  }
  Loop.prototype.address = function () {
    var sep = this.url.indexOf("?") >= 0 ? "&" : "?";
    var query = "wait=" + WAIT_SECONDS + (this.cursor ? "&after=" + encodeURIComponent(this.cursor) : "");
    return this.url + sep + query;
  };
  Loop.prototype.later = function (ms) {
    var self = this;
    clearTimeout(this.timer);
    this.timer = setTimeout(function () { self.run(); }, ms);
  };
  Loop.prototype.run = function () {
    var self = this;
    this.timer = null;
    if (this.stopped || this.request) return;
    if (this.held()) { this.onState("paused"); return; }  // resume() starts it again
    this.onState("live");
    var controller = window.AbortController ? new AbortController() : null;
    this.request = controller || {};
    fetch(this.address(), {
      credentials: "same-origin",
      headers: { "Accept": "application/json", "X-Console-Poll": "1" },
      signal: controller ? controller.signal : undefined
    }).then(function (response) {
      if (response.redirected || response.status === 401) throw new Error("signed out");
      if (!response.ok) throw new Error("error " + response.status);
      return response.json();
    }).then(function (data) {
      self.request = null;
      if (self.stopped) return;
      self.retry = 0;
      self.cursor = data.cursor || self.cursor;
      if (data.events && data.events.length) self.onEvents(data.events);
      self.later(data.busy ? BUSY_DELAY_MS : 0);
    }).catch(function (error) {
      self.request = null;
      if (self.stopped || (error && error.name === "AbortError")) return;
      self.retry = Math.min(MAX_RETRY_MS, Math.max(MIN_RETRY_MS, self.retry * 2));
      self.onState("retry", self.retry, String(error && error.message || error));
      self.later(self.retry);
    });
  };
  Loop.prototype.pause = function () {
    clearTimeout(this.timer);
    this.timer = null;
    if (this.request && this.request.abort) this.request.abort();
    this.request = null;
    this.onState("paused");
  };
  Loop.prototype.resume = function () { if (!this.stopped && !this.request && !this.timer) this.run(); };
  Loop.prototype.stop = function () { this.stopped = true; this.pause(); };

  // ---------------------------------------------------------------- the feed page

  var feed = null;  // { root, loop, paused }

  function cell(row, child) {
    var td = document.createElement("td");
    if (typeof child === "string") td.textContent = child; else td.appendChild(child);
    row.appendChild(td);
    return td;
  }
  function words(type) { return String(type || "").replace(/_/g, " "); }
  function timeElement(event) {
    var el = document.createElement("time");
    var iso = String(event.at || "").slice(0, 19);
    el.setAttribute("datetime", iso + "Z");
    el.title = iso.replace("T", " ") + " UTC";
    el.textContent = "just now";
    return el;
  }
  function buildRow(root, event, badges) {
    var tr = document.createElement("tr");
    tr.setAttribute("data-event", event.id);
    tr.setAttribute("data-job", event.job_id || "");
    cell(tr, timeElement(event));
    var badge = document.createElement("span");
    badge.className = "badge" + (badges[event.type] ? " badge-" + badges[event.type] : "");
    badge.textContent = words(event.type);
    var what = cell(tr, badge);
    if (event.exc_type) {
      var exc = document.createElement("span");
      exc.className = "mono";
      exc.textContent = event.exc_type;
      what.appendChild(document.createTextNode(" "));
      what.appendChild(exc);
    }
    if (event.job_id) {
      var link = document.createElement("a");
      link.className = "mono";
      link.href = root.getAttribute("data-job-url").replace("JOB-ID", encodeURIComponent(event.job_id));
      link.textContent = event.job_id;
      cell(tr, link);
    } else {
      cell(tr, event.extra && event.extra.count ? event.extra.count + " job(s)" : "—");
    }
    cell(tr, event.queue || "—");
    cell(tr, event.function || "—").className = "mono";
    cell(tr, event.worker || event.actor || "—");
    return tr;
  }
  function addEvents(root, list) {
    var body = root.querySelector("#event-rows");
    if (!body) return;
    var badges = {};
    try { badges = JSON.parse(root.getAttribute("data-badges") || "{}"); } catch (e) { badges = {}; }
    var max = Number(root.getAttribute("data-max-rows")) || 500;
    var workerSeen = false;
    list.forEach(function (event) {  // oldest first: each goes on top, so the newest ends first
      if (WORKER_TYPES[event.type]) workerSeen = true;
      if (body.querySelector('tr[data-event="' + String(event.id).replace(/[^0-9-]/g, "") + '"]')) return;
      var row = buildRow(root, event, badges);
      body.insertBefore(row, body.firstChild);
      // time.js renders the <time> of whatever is inserted (it listens to htmx:load).
      row.dispatchEvent(new CustomEvent("htmx:load", { bubbles: true }));
    });
    while (body.rows.length > max) body.deleteRow(body.rows.length - 1);
    var table = root.querySelector("#event-table");
    var empty = root.querySelector("#event-empty");
    if (table && body.rows.length) table.hidden = false;
    if (empty && body.rows.length) empty.hidden = true;
    var notice = root.querySelector("#event-no-worker");
    if (workerSeen && notice) notice.hidden = true;
  }
  function feedState(root, state, retryMs, why) {
    var el = root.querySelector("#event-state");
    if (!el) return;
    var text = state === "live" ? "Live" : state === "paused" ? "Paused"
      : "Reconnecting in " + Math.round(retryMs / 1000) + " s (" + why + ")";
    if (el.textContent !== text) el.textContent = text;
    root.setAttribute("data-state", state);
  }
  function startFeed(root) {
    if (feed && feed.root === root) return;
    if (feed) feed.loop.stop();
    var current = { root: root, paused: false };
    current.loop = new Loop(
      root.getAttribute("data-poll-url"),
      root.getAttribute("data-cursor"),
      function (list) { addEvents(root, list); },
      function (state, ms, why) { feedState(root, state, ms, why); },
      function () { return current.paused || document.hidden; }
    );
    var button = root.querySelector("#event-pause");
    if (button) {
      button.addEventListener("click", function () {
        current.paused = !current.paused;
        button.setAttribute("aria-pressed", current.paused ? "true" : "false");
        button.textContent = current.paused ? "Resume" : "Pause";
        if (current.paused) current.loop.pause(); else current.loop.resume();
      });
    }
    feed = current;
    current.loop.run();
  }

  // ---------------------------------------------------------------- the job page

  var jobLoop = null;

  function jobRegion() { return document.querySelector("[data-job-events]"); }
  function startJob() {
    var region = jobRegion();
    if (!region || jobLoop) return;
    var idEl = document.getElementById("job-id");
    var jobId = idEl ? idEl.textContent.trim() : "";
    jobLoop = new Loop(region.getAttribute("data-job-events"), "", function (list) {
      var mine = list.some(function (event) { return event.job_id === jobId; });
      var live = jobRegion();
      if (mine && live && window.htmx && !live._rqcSince) window.htmx.trigger(live, "refresh");
    });
    // The job no longer runs (its region stopped polling): the loop ends with its next answer.
    var run = jobLoop.run;
    jobLoop.run = function () { if (!jobRegion()) { this.stop(); jobLoop = null; return; } run.call(this); };
    jobLoop.run();
  }

  // ---------------------------------------------------------------- start

  function scan(root) {
    var el = root && root.querySelector ? (root.id === "event-feed" ? root : root.querySelector("#event-feed")) : null;
    if (el) startFeed(el);
    startJob();
  }
  document.addEventListener("visibilitychange", function () {
    if (document.hidden) return;
    if (feed) feed.loop.resume();
    if (jobLoop) jobLoop.resume();
  });
  document.addEventListener("htmx:load", function (event) { if (event.target && event.target.id === "event-feed") scan(event.target); });
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", function () { scan(document); });
  else scan(document);
})();
