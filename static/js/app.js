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

  // Rows of the sessions table, found by their id only: the table's markup may change.
  const ROW = 'tr[id^="session-"]';
  const rowOf = (el) => (el && el.closest ? el.closest(ROW) : null);
  const visibleRows = () => Array.from(document.querySelectorAll(ROW)).filter((tr) => tr.getClientRects().length);
  const isArchiveButton = (el) => /\/archive\/$/.test(el.getAttribute("hx-post") || "");
  const isUnarchiveButton = (el) => /\/unarchive\/$/.test(el.getAttribute("hx-post") || "");

  // Where focus lands in a row: its error message (made focusable) when it shows one, else its
  // primary button (the first in .row-actions), else the row itself (a viewer's row has none).
  function focusRow(row) {
    const alert = row.querySelector('[role="alert"]');
    if (alert) {
      if (!alert.hasAttribute("tabindex")) alert.tabIndex = -1;
      return alert.focus();
    }
    const button = row.querySelector(".row-actions button:not([disabled])");
    if (button) return button.focus();
    row.tabIndex = -1;
    row.focus();
  }
  const focusLost = () => !document.activeElement || document.activeElement === document.body;

  // A row's button disables itself during its request (focus falls to <body>), and the answer
  // replaces the whole row. Remember, per request, which row had focus, and put it back after the
  // swap; a request from a row that did not have focus (or focus that moved on meanwhile) is left.
  // Not before htmx:afterSettle: until then htmx has not wired the new row's buttons, and an Enter
  // on one would submit its plain form.
  const pending = new WeakMap();
  document.addEventListener("htmx:beforeRequest", (event) => {
    const row = rowOf(event.detail.elt);
    if (!row) return;
    const kind = isArchiveButton(event.detail.elt) ? "archive" : isUnarchiveButton(event.detail.elt) ? "unarchive" : "";
    pending.set(event.detail.xhr, { id: row.id, focused: row.contains(document.activeElement), kind });
  });
  document.addEventListener("htmx:afterSettle", (event) => {
    const asked = pending.get(event.detail.xhr);
    if (!asked || asked.done) return;
    const row = document.getElementById(asked.id);
    if (!row) return;
    asked.done = true;
    if (asked.focused && focusLost()) focusRow(row);
    if (asked.kind && !row.querySelector('[role="alert"]')) toast(asked.kind, row);
  });
  document.addEventListener("htmx:afterRequest", (event) => {
    // No swap (the server or the network failed): give the focus back to the button.
    const asked = pending.get(event.detail.xhr);
    if (asked && !asked.done && asked.focused && focusLost() && event.detail.elt.isConnected) {
      event.detail.elt.focus();
    }
  });
  // The live refresh swaps rows out of band: keep focus on the same control of a refreshed row.
  let oobFocus = null;
  document.addEventListener("htmx:oobBeforeSwap", (event) => {
    const row = event.detail.target;
    if (!row.matches || !row.matches(ROW) || !row.contains(document.activeElement)) return;
    const controls = Array.from(row.querySelectorAll("a[href], button, input, [tabindex]"));
    oobFocus = { id: row.id, index: controls.indexOf(document.activeElement) };
  });
  document.addEventListener("htmx:afterSettle", () => {
    if (!oobFocus) return;
    const row = document.getElementById(oobFocus.id);
    const index = oobFocus.index;
    if (!row || !focusLost()) return;
    oobFocus = null;
    const same = index >= 0 ? row.querySelectorAll("a[href], button, input, [tabindex]")[index] : null;
    if (same) same.focus();
    else focusRow(row);
  });
  // A single archive is undone from a toast, not confirmed first. Terminate keeps its question.
  document.addEventListener("htmx:confirm", (event) => {
    if (event.detail.question && isArchiveButton(event.detail.elt)) {
      event.preventDefault();
      event.detail.issueRequest(true);
    }
  });

  // The undo toast: "Archived · Undo" for ~8 s (held while pointed at or focused, so a keyboard
  // can reach it; u presses Undo). Undo presses the row's Unarchive button, focused first so that
  // the focus stays in the row after the swap.
  const TOAST_MS = 8000;
  let toastTimer = null;
  function toastBox() {
    let box = document.getElementById("toast");
    if (!box) {
      box = document.createElement("div");
      box.id = "toast";
      box.className = "toast";
      // The region is polite and always there; the toast inside it is the status (an empty
      // status on every page would be one more, empty, landmark-like thing to skip).
      box.setAttribute("aria-live", "polite");
      box.addEventListener("mouseenter", () => clearTimeout(toastTimer));
      box.addEventListener("focusin", () => clearTimeout(toastTimer));
      box.addEventListener("mouseleave", () => hideToastLater());
      box.addEventListener("focusout", (e) => { if (!box.contains(e.relatedTarget)) hideToastLater(); });
      document.body.append(box);
    }
    return box;
  }
  function hideToastLater() {
    clearTimeout(toastTimer);
    toastTimer = setTimeout(() => toastBox().replaceChildren(), TOAST_MS);
  }
  function toast(kind, row) {
    const status = document.createElement("div");
    status.setAttribute("role", "status");
    status.className = "toast-body";
    const text = document.createElement("span");
    text.textContent = kind === "archive" ? "Archived" : "Unarchived";
    status.append(text);
    if (kind === "archive" && Array.from(row.querySelectorAll("button[hx-post]")).some(isUnarchiveButton)) {
      const undo = document.createElement("button");
      undo.type = "button";
      undo.className = "button small";
      undo.textContent = "Undo";
      undo.dataset.undo = row.id;
      status.append(" · ", undo);
    }
    toastBox().replaceChildren(status);
    hideToastLater();
  }
  function undoLast() {
    const undo = document.querySelector("#toast [data-undo]");
    if (!undo) return false;
    const row = document.getElementById(undo.dataset.undo);
    const button = row && Array.from(row.querySelectorAll("button[hx-post]")).find(isUnarchiveButton);
    if (!button) return false;
    button.focus();
    button.click();
    return true;
  }
  document.addEventListener("click", (event) => {
    if (event.target.closest("#toast [data-undo]")) undoLast();
  });
  // A live region is read out reliably only when it exists before its text changes.
  document.addEventListener("DOMContentLoaded", toastBox);

  // Keyboard shortcuts of the sessions list, and ? for the list of them.
  const KEYS = [
    ["j", "Next session"],
    ["k", "Previous session"],
    ["x", "Select or unselect the session"],
    ["e", "Archive the session"],
    ["u", "Undo the last archive"],
    ["/", "Search"],
    ["?", "This list of keys"],
    ["Esc", "Close a popover, this list or the session panel"],
  ];
  function keysDialog() {
    let dialog = document.getElementById("keys-dialog");
    if (dialog) return dialog;
    dialog = document.createElement("dialog");
    dialog.id = "keys-dialog";
    dialog.className = "keys-dialog";
    dialog.setAttribute("aria-labelledby", "keys-title");
    const title = document.createElement("h2");
    title.id = "keys-title";
    title.textContent = "Keyboard shortcuts";
    const list = document.createElement("dl");
    for (const [key, what] of KEYS) {
      const dt = document.createElement("dt");
      const kbd = document.createElement("kbd");
      kbd.textContent = key;
      dt.append(kbd);
      const dd = document.createElement("dd");
      dd.textContent = what;
      list.append(dt, dd);
    }
    const note = document.createElement("p");
    note.className = "help";
    note.textContent = "They work on the sessions list, except while typing in a field.";
    const close = document.createElement("button");
    close.type = "button";
    close.className = "button small";
    close.textContent = "Close";
    close.addEventListener("click", () => dialog.close());
    dialog.append(title, list, note, close);
    // Focus goes back to what had it when the list opened.
    dialog.addEventListener("close", () => {
      const back = dialog.opener;
      dialog.opener = null;
      if (back && back.isConnected && back !== document.body) back.focus();
    });
    document.body.append(dialog);
    return dialog;
  }
  function openKeys() {
    const dialog = keysDialog();
    if (dialog.open) return;
    dialog.opener = document.activeElement;
    dialog.showModal();
  }

  function moveRow(step) {
    const rows = visibleRows();
    if (!rows.length) return;
    const here = rows.indexOf(rowOf(document.activeElement));
    const next = here < 0 ? 0 : Math.min(Math.max(here + step, 0), rows.length - 1);
    const row = rows[next];
    const button = row.querySelector(".row-actions button:not([disabled])");
    if (button) return button.focus();
    row.tabIndex = -1;
    row.focus();
  }
  function focusSearch() {
    const search = document.querySelector('input[name="q"]:not([type="hidden"])');
    if (!search) return false;
    // The search may sit in a folded panel ("More filters", or the phone's folded filters).
    for (let d = search.closest("details"); d; d = d.parentElement.closest("details")) d.open = true;
    search.focus();
    search.select();
    return true;
  }

  // Escape closes what floats over the page: a modal dialog first (alone), else every open
  // popover (a <details> whose panel is positioned over the page, or marked data-popover) and the
  // session panel. Focus goes back to the summary that opened a popover it was in.
  function isPopover(details) {
    if (details.hasAttribute("data-popover") || details.classList.contains("track")) return true;
    return Array.from(details.children).some((child) => {
      if (child.tagName === "SUMMARY") return false;
      const position = getComputedStyle(child).position;
      return position === "absolute" || position === "fixed";
    });
  }
  function closePopovers() {
    let closed = false;
    document.querySelectorAll("details[open]").forEach((details) => {
      if (!isPopover(details)) return;
      const hadFocus = details.contains(document.activeElement);
      details.open = false;
      closed = true;
      const summary = details.querySelector("summary");
      if (summary && (hadFocus || focusLost())) summary.focus();
    });
    return closed;
  }
  function escape(event) {
    const modal = document.querySelector("dialog[open]");
    if (modal) {
      event.preventDefault();
      modal.close();
      return;
    }
    const panel = document.getElementById("session-panel");
    const panelOpen = panel && !panel.hidden;
    if (closePopovers() || panelOpen) event.preventDefault();
    closePanel();
  }

  const typing = (el) => el && (el.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(el.tagName));
  document.addEventListener("keydown", (event) => {
    if (event.key === "Escape") return escape(event);
    if (event.defaultPrevented || event.ctrlKey || event.metaKey || event.altKey) return;
    if (typing(event.target) || document.querySelector("dialog[open]")) return;
    // The session panel covers the list: its rows are not for moving through meanwhile.
    const panel = document.getElementById("session-panel");
    if (panel && !panel.hidden && event.key !== "?") return;
    let done = true;
    switch (event.key) {
      case "j": moveRow(1); break;
      case "k": moveRow(-1); break;
      case "x": {
        const row = rowOf(document.activeElement);
        const box = row && row.querySelector('input[type="checkbox"][name="ids"]');
        if (box) box.click();
        break;
      }
      case "e": {
        const row = rowOf(document.activeElement);
        const button = row && Array.from(row.querySelectorAll("button[hx-post]:not([disabled])")).find(isArchiveButton);
        if (button) button.click();
        break;
      }
      case "u": done = undoLast(); break;
      case "/": done = focusSearch(); break;
      case "?": openKeys(); break;
      default: done = false;
    }
    if (done) event.preventDefault();
  });
})();
