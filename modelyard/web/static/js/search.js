/* Search boxes and the search page; everything works without this file (the boxes are plain GET forms).

   1. Suggestions as one types, in every box marked [data-suggest] (the header's and the search page's): the
      options come from /search/suggest as HTML; the arrow keys move through them, Enter opens the one chosen
      (or, with none chosen, submits the search), Escape closes them.
   2. The search page's filters fold away on a narrow screen, and stay as they were when htmx swaps the results;
      the words in the box are kept in the history's copy of the page, for the back button.
   3. Blurred pictures among the results are shown on a click, and their placeholders painted when they arrive. */
(function () {
  "use strict";

  var DELAY = 120; // ms after the last keystroke
  var NARROW = "(max-width: 900px)";

  /* --- 1. Suggestions ------------------------------------------------------------------------------------ */

  function setUpSuggest(box) {
    var input = box.querySelector("[role=combobox]");
    var list = box.querySelector("[role=listbox]");
    if (!input || !list) return;
    var timer = null;
    var asked = "";
    var controller = null;

    function options() { return Array.prototype.slice.call(list.querySelectorAll("[role=option]")); }

    function close() {
      list.hidden = true;
      input.setAttribute("aria-expanded", "false");
      input.removeAttribute("aria-activedescendant");
    }

    function open() {
      if (!options().length) { close(); return; }
      list.hidden = false;
      input.setAttribute("aria-expanded", "true");
    }

    function choose(index) {
      var all = options();
      all.forEach(function (option, n) {
        var chosen = n === index;
        option.setAttribute("aria-selected", chosen ? "true" : "false");
        option.classList.toggle("is-active", chosen);
        if (chosen) {
          input.setAttribute("aria-activedescendant", option.id);
          option.scrollIntoView({ block: "nearest" });
        }
      });
      if (index < 0) input.removeAttribute("aria-activedescendant");
    }

    function active() { return options().findIndex(function (option) { return option.classList.contains("is-active"); }); }

    function fetchSuggestions() {
      var text = input.value.trim();
      if (text === asked) { open(); return; }
      asked = text;
      if (!text) { list.innerHTML = ""; close(); return; }
      if (controller) controller.abort();
      controller = new AbortController();
      fetch("/search/suggest?" + new URLSearchParams({ q: text }), { credentials: "same-origin", signal: controller.signal })
        .then(function (response) { return response.ok ? response.text() : ""; })
        .then(function (html) {
          if (input.value.trim() !== text) return; // typed on since
          list.innerHTML = html;
          options().forEach(function (option, n) { option.id = list.id + "-" + n; });
          if (document.activeElement === input) open();
        })
        .catch(function () { /* aborted or offline: the box still searches */ });
    }

    input.addEventListener("input", function () {
      clearTimeout(timer);
      timer = setTimeout(fetchSuggestions, DELAY);
    });
    input.addEventListener("focus", function () { if (input.value.trim() && asked === input.value.trim()) open(); });
    input.addEventListener("keydown", function (event) {
      var count = options().length;
      if (event.key === "ArrowDown" || event.key === "ArrowUp") {
        if (!count) return;
        event.preventDefault();
        open();
        var step = event.key === "ArrowDown" ? 1 : -1;
        var next = active() + step;
        choose(next < -1 ? count - 1 : next >= count ? -1 : next);
      } else if (event.key === "Escape") {
        if (!list.hidden) { event.preventDefault(); close(); }
      } else if (event.key === "Enter") {
        var index = list.hidden ? -1 : active();
        if (index >= 0) {
          event.preventDefault();
          window.location.assign(options()[index].querySelector("a").href);
        } else {
          close();
        }
      }
    });
    // A click on an option must reach its link before the box loses focus and the list closes.
    list.addEventListener("mousedown", function (event) { event.preventDefault(); });
    input.addEventListener("blur", function () { close(); });
  }

  /* --- 2. The filters on a narrow screen ----------------------------------------------------------------- */

  var filtersOpen = null; // as the visitor left them; null: as the screen suggests

  function setUpFilters(root) {
    root.querySelectorAll("[data-search-filters]").forEach(function (details) {
      var wanted = filtersOpen === null ? !window.matchMedia(NARROW).matches : filtersOpen;
      if (!window.matchMedia(NARROW).matches) wanted = true;
      details.open = wanted;
      details.addEventListener("toggle", function () { filtersOpen = details.open; });
    });
  }

  /* --- 3. Pictures among the results --------------------------------------------------------------------- */

  function paint(root) {
    if (typeof window.modelyardPaintPlaceholders === "function") window.modelyardPaintPlaceholders(root);
  }

  function reveal(event) {
    var button = event.target.closest && event.target.closest(".search-hits [data-reveal]");
    if (!button) return;
    var blurred = button.closest(".is-blurred");
    if (!blurred) return;
    event.preventDefault();
    blurred.classList.remove("is-blurred");
    button.remove();
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("[data-suggest]").forEach(setUpSuggest);
    setUpFilters(document);
    document.addEventListener("click", reveal);
    // The history keeps a copy of the page's markup: the words typed since it loaded are not in it otherwise.
    document.body.addEventListener("htmx:beforeHistorySave", function () {
      document.querySelectorAll("[data-suggest] [role=combobox]").forEach(function (input) {
        input.setAttribute("value", input.value);
      });
    });
    document.body.addEventListener("htmx:afterSwap", function (event) {
      setUpFilters(event.target);
      paint(document.getElementById("search-hits") || document);
    });
  });
})();
