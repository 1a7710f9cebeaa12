// Small progressive enhancements; the pages work without them. No inline scripts (CSP).
(function () {
  "use strict";

  const rtf = new Intl.RelativeTimeFormat(undefined, { numeric: "auto" });
  const exact = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });
  const steps = [
    [60, "second"], [60, "minute"], [24, "hour"], [7, "day"], [4.345, "week"], [12, "month"], [Infinity, "year"],
  ];

  function relative(date) {
    let value = (date.getTime() - Date.now()) / 1000;
    for (const [size, unit] of steps) {
      if (Math.abs(value) < size) return rtf.format(Math.round(value), unit);
      value /= size;
    }
    return "";
  }

  // <time datetime="ISO"> shows a relative time, and the exact local time on hover.
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
    localizeTimes(document);
    setInterval(() => localizeTimes(document), 60000);
  });
  document.addEventListener("htmx:load", (event) => localizeTimes(event.detail.elt));
})();
