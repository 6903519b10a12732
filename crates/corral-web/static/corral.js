// Progressive enhancement only: every page works without this script.
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  // "select all" checkboxes of bulk forms
  for (const all of document.querySelectorAll("input[data-select-all]")) {
    all.addEventListener("change", () => {
      const form = all.closest("form");
      for (const box of form.querySelectorAll("input[type=checkbox][name=id]")) {
        box.checked = all.checked;
      }
    });
  }
  // copy buttons next to DSNs and snippets
  for (const button of document.querySelectorAll("button[data-copy]")) {
    button.addEventListener("click", async (e) => {
      e.preventDefault();
      const target = document.getElementById(button.dataset.copy);
      try {
        await navigator.clipboard.writeText(target.textContent.trim());
        button.textContent = "Copied";
      } catch {
        button.textContent = "Select and copy";
      }
    });
  }
});
