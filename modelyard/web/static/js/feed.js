/* The image feed and image pages; both work without this file.

   1. Infinite scroll: the "More images" link ([data-feed-next]) is fetched with partial=1 when it nears the
      viewport, and the cards it answers are appended (the link then points at the page after).
   2. Masonry: the cards sit in a grid of small rows; each card spans the rows its height needs.
   3. Blur: a blurred card or picture ([data-reveal]) is shown on a click.
   4. Copy buttons ([data-copy]) for the generation data.
   5. The sort and period selectors apply on change. */
(function () {
  "use strict";

  var ROW = 8; // px: grid-auto-rows of .feed--masonry

  function layOut(feed) {
    if (!feed.classList.contains("feed--masonry")) feed.classList.add("feed--masonry");
    var gap = parseFloat(getComputedStyle(feed).rowGap) || 0;
    feed.querySelectorAll(".feed__item").forEach(function (item) {
      var card = item.firstElementChild;
      if (!card) return;
      var height = card.getBoundingClientRect().height;
      item.style.gridRowEnd = "span " + Math.max(1, Math.ceil((height + gap) / (ROW + gap)));
    });
  }

  function paint(root) {
    if (typeof window.modelyardPaintPlaceholders === "function") window.modelyardPaintPlaceholders(root);
  }

  function setUpReveal(root) {
    root.querySelectorAll("[data-reveal]").forEach(function (button) {
      if (button.dataset.bound) return;
      button.dataset.bound = "1";
      button.addEventListener("click", function (event) {
        var blurred = button.closest(".is-blurred");
        if (!blurred) return;
        event.preventDefault();
        blurred.classList.remove("is-blurred");
        button.remove();
      });
    });
  }

  function setUpFeed(pages) {
    var feed = pages.querySelector("[data-feed]");
    if (!feed) return;
    var loading = false;
    function relayout() { layOut(feed); }
    relayout();
    window.addEventListener("resize", relayout);
    feed.addEventListener("load", relayout, true); // an image's real size arrived

    function loadMore(link) {
      if (loading) return;
      loading = true;
      link.setAttribute("aria-busy", "true");
      var url = link.getAttribute("href");
      fetch(url + (url.indexOf("?") < 0 ? "?" : "&") + "partial=1", { credentials: "same-origin" })
        .then(function (response) {
          if (!response.ok) throw new Error("status " + response.status);
          return response.text();
        })
        .then(function (html) {
          var page = new DOMParser().parseFromString(html, "text/html");
          var items = page.querySelectorAll("[data-feed] > .feed__item");
          items.forEach(function (item) { feed.appendChild(document.importNode(item, true)); });
          var next = page.querySelector("[data-feed-next]");
          if (next) {
            link.setAttribute("href", next.getAttribute("href"));
            link.removeAttribute("aria-busy");
          } else {
            link.parentElement.remove();
          }
          paint(feed);
          setUpReveal(feed);
          relayout();
          loading = false;
        })
        .catch(function () {
          link.removeAttribute("aria-busy"); // the link still works as a link
          loading = false;
        });
    }

    var link = pages.querySelector("[data-feed-next]");
    if (!link) return;
    link.addEventListener("click", function (event) {
      event.preventDefault();
      loadMore(link);
    });
    if ("IntersectionObserver" in window) {
      new IntersectionObserver(function (entries) {
        entries.forEach(function (entry) {
          if (entry.isIntersecting && document.body.contains(link)) loadMore(link);
        });
      }, { rootMargin: "800px 0px" }).observe(link);
    }
  }

  function setUpCopy(root) {
    root.querySelectorAll("[data-copy]").forEach(function (button) {
      button.hidden = false;
      button.addEventListener("click", function () {
        if (!navigator.clipboard) return;
        navigator.clipboard.writeText(button.dataset.copy).then(function () {
          button.classList.add("is-copied");
          setTimeout(function () { button.classList.remove("is-copied"); }, 1500);
        });
      });
    });
  }

  function setUpAutosubmit(root) {
    root.querySelectorAll("[data-autosubmit]").forEach(function (select) {
      select.addEventListener("change", function () { select.form.submit(); });
    });
    root.querySelectorAll("[data-autosubmit-button]").forEach(function (button) { button.hidden = true; });
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("[data-feed-pages]").forEach(setUpFeed);
    setUpReveal(document);
    setUpCopy(document);
    setUpAutosubmit(document);
  });
})();
