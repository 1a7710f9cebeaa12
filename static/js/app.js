// Small progressive enhancements; the pages work without them. No inline scripts (CSP).
(function () {
  "use strict";

  const exact = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });
  // relativeWords follows dashboard/timewords.py's relative_words step for step (the same
  // threshold, table and rounding), so a refreshed time reads as the server wrote it.
  const JUST_NOW_SECONDS = 45;
  const steps = [
    [60, "second"], [60, "minute"], [24, "hour"], [7, "day"], [4.35, "week"], [12, "month"], [Infinity, "year"],
  ];

  function relativeWords(secondsAgo) {
    let amount = Math.abs(secondsAgo);
    if (amount < JUST_NOW_SECONDS) return "just now";
    for (const [size, unit] of steps) {
      const n = Math.floor(amount + 0.5);
      if (n < size) {
        const words = n + " " + unit + (n === 1 ? "" : "s");
        return secondsAgo > 0 ? words + " ago" : "in " + words;
      }
      amount /= size;
    }
    return "";
  }

  function relative(date) {
    return relativeWords((Date.now() - date.getTime()) / 1000);
  }

  // <time datetime="ISO"> shows a relative time, and the exact local time on hover. The sessions
  // table's rows are cached on the server, so they carry the ISO time only (and a UTC time for
  // pages without JavaScript): their "5 minutes ago" is written here, on load and every swap.
  function localizeTimes(root) {
    root.querySelectorAll("time[datetime]").forEach((el) => {
      const date = new Date(el.getAttribute("datetime"));
      if (isNaN(date)) return;
      el.title = exact.format(date);
      if (el.dataset.relative !== undefined) el.textContent = relative(date);
    });
  }

  document.addEventListener("click", (event) => {
    const close = event.target.closest("[data-dismiss]");
    if (close) close.parentElement.remove();
    // Plain (non-htmx) buttons that need a second thought; htmx ones use hx-confirm.
    const confirming = event.target.closest("[data-confirm]");
    if (confirming && !window.confirm(confirming.dataset.confirm)) event.preventDefault();
  });

  document.addEventListener("DOMContentLoaded", () => {
    // On a phone the filters would fill the first screen: start them folded.
    if (window.matchMedia("(max-width: 720px)").matches) {
      document.querySelectorAll("details[data-collapse-on-phone]").forEach((d) => d.removeAttribute("open"));
    }
    localizeTimes(document);
    setInterval(() => localizeTimes(document), 60000);
  });
  document.addEventListener("htmx:load", (event) => localizeTimes(event.detail.elt));

  // Live view: while the tab is visible, ask for the rows of sessions that still change
  // (tr[data-live]); the answer swaps changed rows in place (out of band). Backs off on errors,
  // pauses while hidden, and sends nothing when no row is live.
  function startLive(box) {
    const base = Number(box.dataset.interval) * 1000;
    const status = () => document.getElementById("live-status");
    let since = box.dataset.since;
    let delay = base;
    let timer = null;

    function schedule() {
      clearTimeout(timer);
      timer = setTimeout(tick, delay);
    }
    function say(text) {
      const el = status();
      if (el) el.textContent = text;
    }
    function tick() {
      if (document.hidden) return; // visibilitychange restarts us
      const ids = Array.from(document.querySelectorAll("tr[data-live]"), (tr) => tr.id.replace("session-", ""));
      if (!ids.length) return schedule();
      const params = new URLSearchParams();
      ids.forEach((id) => params.append("ids", id));
      params.set("since", since);
      htmx.ajax("GET", box.dataset.url + "?" + params, { source: box, swap: "none" });
    }
    function failed() {
      delay = Math.min(delay * 2, 5 * 60 * 1000);
      say("live refresh failed; retrying in " + Math.round(delay / 1000) + " s");
      schedule();
    }
    box.addEventListener("htmx:afterRequest", (event) => {
      if (!event.detail.successful) return failed();
      since = event.detail.xhr.getResponseHeader("X-Live-Since") || since;
      delay = base;
      const problem = event.detail.xhr.getResponseHeader("X-Live-Problem");
      say(problem ? "live refresh could not reach Devin: " + problem : "running sessions refresh every " + base / 1000 + " s");
      schedule();
    });
    box.addEventListener("htmx:sendError", failed);
    document.addEventListener("visibilitychange", () => {
      if (document.hidden) {
        clearTimeout(timer);
        say("live refresh paused while the tab is hidden");
      } else {
        delay = base;
        tick();
      }
    });
    schedule();
  }

  document.addEventListener("DOMContentLoaded", () => {
    const box = document.getElementById("live");
    if (box && window.htmx) startLive(box);
  });

  // The session panel: a session's page loaded over the list (htmx). Escape or its close
  // button empties it and gives focus back to the row's link that opened it.
  let panelOpener = null;
  function closePanel() {
    const panel = document.getElementById("session-panel");
    if (!panel || panel.hidden) return;
    panel.hidden = true;
    panel.replaceChildren();
    if (panelOpener && document.body.contains(panelOpener)) panelOpener.focus();
  }
  document.addEventListener("htmx:afterSwap", (event) => {
    if (event.detail.target.id !== "session-panel") return;
    const panel = event.detail.target;
    panelOpener = event.detail.requestConfig.elt;
    panel.hidden = false;
    const title = panel.querySelector("#session-title");
    if (title) title.focus();
  });
  document.addEventListener("click", (event) => {
    if (event.target.closest("[data-close-panel]")) closePanel();
  });
  document.addEventListener("keydown", (event) => {
    if (event.key === "Escape") closePanel();
  });
})();
