/* Catalog wizard: show the date and time fields only when "Schedule for later" is picked, and preselect the
   browser's time zone. Everything works without this file (the fields are simply always shown, zone UTC). */
(function () {
  "use strict";

  function browserZone() {
    try {
      return Intl.DateTimeFormat().resolvedOptions().timeZone || null;
    } catch (e) {
      return null;
    }
  }

  function sync(group) {
    var later = group.querySelector('input[name="when"][value="later"]');
    var fields = group.querySelector("[data-when-later]");
    if (!later || !fields) return;
    fields.hidden = !later.checked;
  }

  document.addEventListener("change", function (event) {
    var group = event.target.closest ? event.target.closest("[data-when]") : null;
    if (group && event.target.name === "when") sync(group);
  });

  document.addEventListener("DOMContentLoaded", function () {
    var zone = browserZone();
    document.querySelectorAll("[data-when]").forEach(function (group) {
      sync(group);
      var select = group.querySelector("[data-timezone]");
      var later = group.querySelector('input[name="when"][value="later"]');
      if (zone && select && later && !later.checked && select.value === "UTC" && select.querySelector('option[value="' + zone + '"]')) {
        select.value = zone;
      }
    });
  });
})();
