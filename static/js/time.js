// time: every <time datetime="…Z"> the server rendered (dashboard/web/formatting.py `when`) shown in the
// browser's timezone, or in UTC when the operator chose it (remembered per browser in localStorage
// "rqc-tz"), with the other form in the title (hover) and on focus. Relative text ("3 min ago", "in 12 min")
// is kept current by one timer for the whole page, touching only text that changed.
//
// Shows (data-show): absent = relative text; "both" = relative · wall time; "abs" = wall time only.
// data-tz="Europe/Paris" (a schedule's own zone) adds " · 09:00 Europe/Paris" when that wall time
// differs from the one shown.
// Only UTC times ("…Z", as the filter writes them) are touched: a <time> with an offset (the cron preview's
// runs in the zone being edited) already says what it means.
(function () {
  'use strict';

  var KEY = 'rqc-tz';
  var SELECTOR = 'time[datetime$="Z"]';
  var TICK_MS = 15000;
  var BROWSER_ZONE = (function () {
    try { return Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC'; } catch (e) { return 'UTC'; }
  })();
  var formats = {};
  // The server's clock when it rendered the page (<meta name="rqc-server-time">): relative times are
  // counted on the server's clock, so a browser whose clock is off does not show "in 5 s" for a fresh
  // heartbeat. Differences under 2 s (mostly the page's own load time) are ignored.
  var skew = (function () {
    var meta = document.querySelector('meta[name="rqc-server-time"]');
    var server = meta ? Date.parse(meta.getAttribute('content') || '') : NaN;
    var off = isNaN(server) ? 0 : server - Date.now();
    return Math.abs(off) < 2000 ? 0 : off;
  })();
  function current() { return new Date(Date.now() + skew); }

  function stored() {
    try { return window.localStorage.getItem(KEY) === 'utc' ? 'utc' : 'local'; } catch (e) { return 'local'; }
  }

  var mode = stored();

  function shownZone() { return mode === 'utc' ? 'UTC' : BROWSER_ZONE; }

  // One Intl.DateTimeFormat per (zone, kind): building them is the expensive part, so they are cached.
  function format(zone, kind) {
    var key = zone + '|' + kind;
    if (formats[key]) return formats[key];
    var options = {timeZone: zone, hourCycle: 'h23'};
    if (kind === 'time') {
      options.hour = '2-digit'; options.minute = '2-digit'; options.second = '2-digit';
    } else if (kind === 'day') {
      options.month = 'short'; options.day = 'numeric'; options.hour = '2-digit'; options.minute = '2-digit';
    } else if (kind === 'year') {
      options.year = 'numeric'; options.month = 'short'; options.day = 'numeric';
      options.hour = '2-digit'; options.minute = '2-digit';
    } else if (kind === 'date') {
      options = {timeZone: zone, year: 'numeric', month: '2-digit', day: '2-digit'};
    } else if (kind === 'yearonly') {
      options = {timeZone: zone, year: 'numeric'};
    } else {  // full: for the title
      options.weekday = 'short'; options.year = 'numeric'; options.month = 'short'; options.day = 'numeric';
      options.hour = '2-digit'; options.minute = '2-digit'; options.second = '2-digit';
      options.timeZoneName = 'short';
    }
    formats[key] = new Intl.DateTimeFormat(undefined, options);
    return formats[key];
  }

  function validZone(zone) {
    try { format(zone, 'date'); return true; } catch (e) { return false; }
  }

  // "14:03:12" today, "Nov 30, 14:03" another day this year, with the year otherwise.
  function wall(date, zone, now) {
    var dates = format(zone, 'date');
    if (dates.format(date) === dates.format(now)) return format(zone, 'time').format(date);
    var years = format(zone, 'yearonly');
    return format(zone, years.format(date) === years.format(now) ? 'day' : 'year').format(date);
  }

  // The same words as formatting.relative on the server.
  function relative(seconds) {
    var past = seconds >= 0;
    var span = Math.floor(past ? seconds : -seconds);
    var words;
    if (span < 1) return 'just now';
    if (span < 60) {
      words = span + ' s';
    } else if (span < 3600) {
      words = Math.floor(span / 60) + ' min';
    } else if (span < 172800) {
      var minutes = Math.floor(span / 60);
      words = Math.floor(minutes / 60) + ' h' + (minutes % 60 ? ' ' + (minutes % 60) + ' min' : '');
    } else {
      var hours = Math.floor(span / 3600);
      words = Math.floor(hours / 24) + ' d' + (hours % 24 ? ' ' + (hours % 24) + ' h' : '');
    }
    return past ? words + ' ago' : 'in ' + words;
  }

  function moment(el) {
    if (el.rqcTime === undefined) {
      var value = Date.parse(el.getAttribute('datetime') || '');
      el.rqcTime = isNaN(value) ? null : new Date(value);
    }
    return el.rqcTime;
  }

  // The wall-time part of an element's text (with its own zone's, when that differs): it only changes
  // with the mode or the day, so it is kept on the element between ticks.
  function wallPart(el, date, now, zone) {
    var show = el.getAttribute('data-show') || 'rel';
    var text = show === 'rel' ? '' : wall(date, zone, now) + (mode === 'utc' ? ' UTC' : '');
    var own = el.getAttribute('data-tz');
    if (own && own !== zone && validZone(own)) {
      var there = wall(date, own, now);
      if (there !== wall(date, zone, now)) text += (text ? ' · ' : '') + there + ' ' + own;
    }
    return text;
  }

  function render(el, now, full) {
    var date = moment(el);
    if (!date) return;
    var show = el.getAttribute('data-show') || 'rel';
    if (full || el.rqcWall === undefined) el.rqcWall = wallPart(el, date, now, shownZone());
    var text = el.rqcWall;
    if (show !== 'abs') {
      var words = relative((now - date) / 1000);
      text = text ? words + ' · ' + text : words;
    }
    if (el.textContent !== text) el.textContent = text;
    if (full) {
      var local = format(BROWSER_ZONE, 'full').format(date);
      var utc = format('UTC', 'full').format(date);
      var title = mode === 'utc' ? utc + ' · your time: ' + local : local + ' · ' + utc;
      if (el.title !== title) el.title = title;
      if (!el.hasAttribute('tabindex') && !el.closest('table.jobs')) el.setAttribute('tabindex', '0');
    }
  }

  // Every <time> in root (a swapped fragment, or the whole document): text, title, focusability.
  function renderWithin(root) {
    if (!root || !root.querySelectorAll) return;
    var now = current();
    var list = root.tagName === 'TIME' ? (root.matches(SELECTOR) ? [root] : []) : root.querySelectorAll(SELECTOR);
    for (var i = 0; i < list.length; i++) render(list[i], now, true);
  }

  // The timer: relative text only (wall times and titles do not age, but "today" does: a new day
  // re-renders everything), skipped while the tab is hidden.
  var lastDay = '';
  function tick() {
    if (document.hidden) return;
    var now = current();
    var day = format(shownZone(), 'date').format(now);
    if (day !== lastDay) {
      lastDay = day;
      renderWithin(document);
      return;
    }
    var list = document.querySelectorAll(SELECTOR);
    for (var i = 0; i < list.length; i++) {
      if (list[i].getAttribute('data-show') !== 'abs') render(list[i], now, false);
    }
  }

  // Zone fields (the schedule form's, the enqueue form's "in timezone"): a button fills in the browser's
  // zone, so "09:00" can mean the operator's 09:00 without typing an IANA name.
  function offerZone(root) {
    if (BROWSER_ZONE === 'UTC' || !root.querySelectorAll) return;
    var inputs = root.querySelectorAll('#timezone, #opt-timezone');
    for (var i = 0; i < inputs.length; i++) {
      var input = inputs[i];
      if (input.rqcZoneOffer) continue;
      input.rqcZoneOffer = true;
      var button = document.createElement('button');
      button.type = 'button';
      button.className = 'secondary small use-my-zone';
      button.textContent = 'Use my timezone (' + BROWSER_ZONE + ')';
      button.addEventListener('click', (function (field) {
        return function () {
          field.value = BROWSER_ZONE;
          field.dispatchEvent(new Event('input', {bubbles: true}));
          field.dispatchEvent(new Event('change', {bubbles: true}));
        };
      })(input));
      input.insertAdjacentElement('afterend', button);
    }
  }

  function syncControl() {
    var control = document.getElementById('time-zone-mode');
    if (control && control.value !== mode) control.value = mode;
    document.documentElement.setAttribute('data-time', mode);
  }

  function setMode(next) {
    mode = next === 'utc' ? 'utc' : 'local';
    try { window.localStorage.setItem(KEY, mode); } catch (e) { /* private mode: this page only */ }
    syncControl();
    lastDay = format(shownZone(), 'date').format(current());
    renderWithin(document);
  }

  function start() {
    syncControl();
    lastDay = format(shownZone(), 'date').format(current());
    renderWithin(document);
    offerZone(document);
    var control = document.getElementById('time-zone-mode');
    if (control) control.addEventListener('change', function () { setMode(control.value); });
    // htmx:load fires on every element htmx inserts (polled regions, action answers, out-of-band parts).
    document.addEventListener('htmx:load', function (event) { renderWithin(event.target); offerZone(event.target); });
    document.addEventListener('visibilitychange', function () { if (!document.hidden) tick(); });
    // Another tab changed the setting: follow it.
    window.addEventListener('storage', function (event) { if (event.key === KEY) setMode(stored()); });
    window.setInterval(tick, TICK_MS);
  }

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start);
  else start();
})();
