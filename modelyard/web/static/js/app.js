/* Modelyard page behaviour. Loaded in <head> without `defer` so the saved theme applies before first paint;
   everything that touches the page body waits for DOMContentLoaded. */
(function () {
  "use strict";

  var STORAGE_KEY = "modelyard-theme";
  var root = document.documentElement;
  var prefersLight = window.matchMedia ? window.matchMedia("(prefers-color-scheme: light)") : null;

  function savedTheme() {
    try {
      var value = window.localStorage.getItem(STORAGE_KEY);
      return value === "light" || value === "dark" ? value : null;
    } catch (e) {
      return null; // storage blocked (privacy mode): fall back to the OS preference
    }
  }

  function systemTheme() {
    return prefersLight && prefersLight.matches ? "light" : "dark";
  }

  function applyTheme(theme) {
    root.setAttribute("data-theme", theme);
    var button = document.querySelector("[data-theme-toggle]");
    if (button) {
      var next = theme === "dark" ? "light" : "dark";
      button.setAttribute("aria-label", "Switch to " + next + " theme");
      button.setAttribute("title", "Switch to " + next + " theme");
    }
  }

  function toggleTheme() {
    var next = root.getAttribute("data-theme") === "light" ? "dark" : "light";
    try {
      window.localStorage.setItem(STORAGE_KEY, next);
    } catch (e) {
      // not persisted, but still switch for this page
    }
    applyTheme(next);
  }

  applyTheme(savedTheme() || systemTheme());

  if (prefersLight && prefersLight.addEventListener) {
    // Follow the OS live, unless the user picked a theme here.
    prefersLight.addEventListener("change", function () {
      if (!savedTheme()) applyTheme(systemTheme());
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    var button = document.querySelector("[data-theme-toggle]");
    if (!button) return;
    button.hidden = false; // the toggle needs JS, so it only appears with it
    button.addEventListener("click", toggleTheme);
    applyTheme(root.getAttribute("data-theme") || systemTheme());
  });
})();
