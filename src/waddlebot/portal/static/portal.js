/* WaddleBot portal: the only script besides htmx. Copy buttons; nothing else needs JS. */
"use strict";
document.addEventListener("click", async (event) => {
  const button = event.target.closest("[data-copy]");
  if (!button) return;
  const field = document.getElementById(button.dataset.copy);
  if (!field) return;
  const status = document.getElementById("copied-" + button.dataset.copy.replace(/^url-/, ""));
  let copied = false;
  try {
    await navigator.clipboard.writeText(field.value);
    copied = true;
  } catch (error) {
    field.select();
    copied = document.execCommand && document.execCommand("copy");
  }
  if (status) status.textContent = copied ? "Copied to the clipboard." : "Select the URL and copy it.";
  button.textContent = copied ? "Copied" : "Copy";
  setTimeout(() => { button.textContent = "Copy"; }, 2000);
});
