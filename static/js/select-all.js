// The sessions table's select-all box: it checks (or clears) every row checkbox shown. Rows of a
// view-only org have no checkbox, so they are never selected. Delegated: the table is swapped.
document.addEventListener("change", (event) => {
  const all = event.target.closest("[data-select-all]");
  if (all) {
    const table = all.closest("table");
    table.querySelectorAll('tbody input[type="checkbox"][name="ids"]').forEach((box) => {
      box.checked = all.checked;
    });
    return;
  }
  const box = event.target.closest('tbody input[type="checkbox"][name="ids"]');
  const head = box && box.closest("table").querySelector("[data-select-all]");
  if (head) {
    const boxes = [...box.closest("tbody").querySelectorAll('input[type="checkbox"][name="ids"]')];
    const checked = boxes.filter((b) => b.checked).length;
    head.checked = checked === boxes.length;
    head.indeterminate = checked > 0 && checked < boxes.length;
  }
});
