/* Account pages: close the header's account menu (a <details>) on an outside click or Escape, copy a new API
   key to the clipboard, and switch the key form to limited access when a permission is ticked. Everything
   works without this file; it only makes it smoother. */
(function () {
  "use strict";

  function closeMenus(except) {
    document.querySelectorAll("[data-account-menu][open]").forEach(function (menu) {
      if (menu !== except) menu.removeAttribute("open");
    });
  }

  document.addEventListener("click", function (event) {
    closeMenus(event.target.closest ? event.target.closest("[data-account-menu]") : null);
  });

  document.addEventListener("keydown", function (event) {
    if (event.key !== "Escape") return;
    var open = document.querySelector("[data-account-menu][open]");
    if (!open) return;
    open.removeAttribute("open");
    open.querySelector("summary").focus();
  });

  function copied(button) {
    var label = button.querySelector("[data-copy-label]") || button;
    var original = label.textContent;
    label.textContent = "Copied";
    button.classList.add("is-copied");
    window.setTimeout(function () {
      label.textContent = original;
      button.classList.remove("is-copied");
    }, 2000);
  }

  function copyFrom(field, button) {
    field.focus();
    field.select();
    // The Clipboard API needs a secure context; on plain http (a LAN install) fall back to the selection.
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(field.value).then(function () { copied(button); }, function () {});
    } else if (document.execCommand && document.execCommand("copy")) {
      copied(button);
    }
  }

  // Ticking a permission means the key is meant to be limited: pick "Only these permissions" for the user.
  document.addEventListener("change", function (event) {
    var box = event.target;
    if (box.name !== "scopes" || !box.checked || !box.form) return;
    var custom = box.form.querySelector('input[name="access"][value="custom"]');
    if (custom) custom.checked = true;
  });

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("[data-copy]").forEach(function (button) {
      var field = document.querySelector(button.getAttribute("data-copy"));
      if (!field) return;
      button.hidden = false; // copying needs JS, so the button only appears with it
      button.addEventListener("click", function () { copyFrom(field, button); });
      field.addEventListener("focus", function () { field.select(); });
    });
  });
})();
