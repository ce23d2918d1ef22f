// The rating game's keyboard: 1 to 6 answer with the level buttons in order, the space bar reveals the image.
// Without this file the page works the same with the mouse (the buttons submit a plain form).
(() => {
  "use strict";
  document.addEventListener("DOMContentLoaded", () => {
    const form = document.querySelector("[data-game-form]");
    const reveal = document.querySelector("[data-game-reveal]");
    if (!form) return;
    let sent = false;
    form.addEventListener("submit", () => { sent = true; });
    document.addEventListener("keydown", (event) => {
      if (event.ctrlKey || event.metaKey || event.altKey || event.repeat) return;
      const target = event.target;
      if (target instanceof HTMLElement && target.closest("input:not([data-game-reveal]), textarea, select, [contenteditable]")) return;
      if (event.key === " " && reveal) {
        event.preventDefault();
        reveal.checked = !reveal.checked;
        return;
      }
      const button = form.querySelector(`[data-shortcut="${event.key}"]`);
      if (!button || sent) return;
      event.preventDefault();
      button.classList.add("is-chosen");
      sent = true;
      form.requestSubmit(button);
    });
  });
})();
