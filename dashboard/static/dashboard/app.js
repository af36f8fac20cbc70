// BotWatch: times in the viewer's clock. Server renders <time datetime="ISO (UTC)">; here they
// become "3 min ago" with the absolute local time on hover, or the absolute local time itself,
// in the page's language (<html lang>). The few words said here come from <body data-*>, written
// by the template in that language (the CSP allows no inline script to carry them).
(function () {
  "use strict";
  var lang = document.documentElement.lang || undefined;
  var words = document.body ? document.body.dataset : {};
  var rtf = window.Intl && Intl.RelativeTimeFormat ? new Intl.RelativeTimeFormat(lang, { numeric: "auto" }) : null;
  var abs = new Intl.DateTimeFormat(lang, { dateStyle: "long", timeStyle: "short" });
  var zone = Intl.DateTimeFormat().resolvedOptions().timeZone || words.localTime || "local time";
  var UNITS = [["year", 31536000], ["month", 2592000], ["week", 604800], ["day", 86400], ["hour", 3600], ["minute", 60], ["second", 1]];

  function relative(date, now) {
    var seconds = Math.round((date - now) / 1000);
    if (Math.abs(seconds) < 10) return words.justNow || "just now";
    for (var i = 0; i < UNITS.length; i++) {
      var size = UNITS[i][1];
      if (Math.abs(seconds) >= size || size === 1) {
        var value = Math.round(seconds / size);
        return rtf ? rtf.format(value, UNITS[i][0]) : Math.abs(value) + " " + UNITS[i][0] + "s " + (value < 0 ? "ago" : "from now");
      }
    }
  }

  function render(root) {
    var now = Date.now();
    (root || document).querySelectorAll("time[datetime]").forEach(function (el) {
      var date = new Date(el.getAttribute("datetime"));
      if (isNaN(date)) return;
      var full = abs.format(date) + " (" + zone + ")";
      if (el.dataset.format === "absolute") {
        el.textContent = abs.format(date);
        el.title = zone;
      } else {
        el.textContent = relative(date, now);
        el.title = full;
      }
    });
  }

  document.addEventListener("DOMContentLoaded", function () { render(document); });
  document.body && document.body.addEventListener("htmx:afterSwap", function (e) { render(e.target); });
  document.addEventListener("htmx:afterSettle", function (e) { render(e.target); });
  setInterval(function () { render(document); }, 30000);

  // Confirm dangerous buttons: <button data-confirm="Delete acme?">.
  document.addEventListener("click", function (e) {
    var el = e.target.closest("[data-confirm]");
    if (el && !window.confirm(el.dataset.confirm)) e.preventDefault();
  });

  // <button data-copy="#input">: copies the input's value (a secret shown once) and says so beside it.
  document.addEventListener("click", function (e) {
    var button = e.target.closest("[data-copy]");
    if (!button) return;
    var input = document.querySelector(button.dataset.copy);
    var said = button.parentNode.querySelector(".copied");
    function done(text) { if (said) said.textContent = text; }
    input.select();
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(input.value).then(function () { done(words.copied); }, function () { done(words.copyByHand); });
    } else {
      done(document.execCommand && document.execCommand("copy") ? words.copied : words.copyByHand);
    }
  });

  // <select data-autosubmit>: choosing an option submits its form (no inline handler: see the CSP).
  document.addEventListener("change", function (e) {
    if (e.target.matches("[data-autosubmit]") && e.target.form) e.target.form.submit();
  });

  // <input data-select-all>: ticks every <input data-select> of the list it controls (the Alerts page).
  document.addEventListener("change", function (e) {
    if (!e.target.matches("[data-select-all]")) return;
    var list = document.getElementById(e.target.getAttribute("aria-controls")) || document;
    list.querySelectorAll("input[data-select]").forEach(function (box) { box.checked = e.target.checked; });
  });

  // Forms in datetime-local inputs speak the viewer's clock; send the offset along.
  document.addEventListener("submit", function (e) {
    var tz = e.target.querySelector("input[name=tz_offset]");
    if (tz) tz.value = String(new Date().getTimezoneOffset());
  });

  // A wall screen must not go stale silently: say so while the live refresh fails.
  function pollLost(lost) {
    var note = document.getElementById("poll-lost");
    if (note) note.hidden = !lost;
  }
  document.addEventListener("htmx:sendError", function () { pollLost(true); });
  document.addEventListener("htmx:responseError", function () { pollLost(true); });
  document.addEventListener("htmx:afterSwap", function () { pollLost(false); });

  window.BotWatch = { renderTimes: render };
})();
