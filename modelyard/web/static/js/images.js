/* Pictures on the site, three small parts; the pages work without this file.

   1. BlurHash placeholders: a card whose picture is still loading shows its blurred colours ([data-blurhash]).
   2. The viewer: a picture of a gallery ([data-gallery] a[data-lightbox]) opens over the page with its details;
      Esc closes it, the arrow keys go through the gallery. Without JavaScript the link opens the image itself.
   3. The showcase step of the wizard ([data-showcase]): files dropped or chosen go up at once, one request each
      with its own progress bar; the order is changed by dragging (or the buttons); "Make cover" and "Remove"
      act without a reload. All of it through the JSON API (/api/model-versions/{id}/showcase...), the same
      actions the page's plain forms do without JavaScript. */
(function () {
  "use strict";

  /* --- 1. BlurHash ---------------------------------------------------------------------------------------- */

  var DIGITS = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz#$%*+,-.:;=?@[]^_{|}~";

  function decode83(text) {
    var value = 0;
    for (var i = 0; i < text.length; i++) value = value * 83 + DIGITS.indexOf(text[i]);
    return value;
  }

  function toLinear(value) {
    var v = value / 255;
    return v <= 0.04045 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4);
  }

  function toSrgb(value) {
    var v = Math.max(0, Math.min(1, value));
    return v <= 0.0031308 ? Math.round(v * 12.92 * 255) : Math.round((1.055 * Math.pow(v, 1 / 2.4) - 0.055) * 255);
  }

  function blurhashPixels(hash, width, height) {
    var size = decode83(hash[0]);
    var across = (size % 9) + 1;
    var down = Math.floor(size / 9) + 1;
    if (hash.length !== 4 + 2 * across * down) return null;
    var maximum = (decode83(hash[1]) + 1) / 166;
    var colours = [];
    var dc = decode83(hash.substring(2, 6));
    colours.push([toLinear(dc >> 16), toLinear((dc >> 8) & 255), toLinear(dc & 255)]);
    for (var k = 1; k < across * down; k++) {
      var value = decode83(hash.substring(4 + k * 2, 6 + k * 2));
      colours.push([Math.floor(value / 361), Math.floor(value / 19) % 19, value % 19].map(function (q) {
        var v = (q - 9) / 9;
        return (v < 0 ? -1 : 1) * v * v * maximum;
      }));
    }
    var pixels = new Uint8ClampedArray(width * height * 4);
    for (var y = 0; y < height; y++) {
      for (var x = 0; x < width; x++) {
        var rgb = [0, 0, 0];
        for (var j = 0; j < down; j++) {
          for (var i = 0; i < across; i++) {
            var basis = Math.cos((Math.PI * x * i) / width) * Math.cos((Math.PI * y * j) / height);
            var colour = colours[i + j * across];
            rgb[0] += colour[0] * basis;
            rgb[1] += colour[1] * basis;
            rgb[2] += colour[2] * basis;
          }
        }
        var at = 4 * (x + y * width);
        pixels[at] = toSrgb(rgb[0]);
        pixels[at + 1] = toSrgb(rgb[1]);
        pixels[at + 2] = toSrgb(rgb[2]);
        pixels[at + 3] = 255;
      }
    }
    return pixels;
  }

  function paintPlaceholders(root) {
    root.querySelectorAll("[data-blurhash]").forEach(function (media) {
      var image = media.querySelector("img");
      if (media.dataset.painted || (image && image.complete && image.naturalWidth)) return;
      var pixels = blurhashPixels(media.dataset.blurhash, 16, 16);
      if (!pixels) return;
      var canvas = document.createElement("canvas");
      canvas.width = canvas.height = 16;
      canvas.getContext("2d").putImageData(new ImageData(pixels, 16, 16), 0, 0);
      media.style.backgroundImage = "url(" + canvas.toDataURL() + ")";
      media.dataset.painted = "1";
    });
  }

  /* --- 2. The viewer ------------------------------------------------------------------------------------- */

  function setUpViewer(gallery) {
    var dialog = gallery.parentElement.querySelector("[data-lightbox-dialog]");
    if (!dialog || typeof dialog.showModal !== "function") return; // the links still open the images
    var links = Array.prototype.slice.call(gallery.querySelectorAll("a[data-lightbox]"));
    var image = dialog.querySelector("[data-lightbox-image]");
    var details = dialog.querySelector("[data-lightbox-details]");
    var count = dialog.querySelector("[data-lightbox-count]");
    var current = 0;

    function show(index) {
      current = (index + links.length) % links.length;
      var link = links[current];
      var thumbnail = link.querySelector("img");
      image.src = link.href;
      image.alt = thumbnail ? thumbnail.alt : "";
      var source = link.closest("figure").querySelector("[data-image-details]");
      details.replaceChildren();
      if (source) {
        var copy = source.cloneNode(true);
        copy.hidden = false;
        copy.removeAttribute("data-image-details");
        details.appendChild(copy);
      }
      count.textContent = "Image " + (current + 1) + " of " + links.length;
      dialog.querySelector("[data-lightbox-prev]").hidden = links.length < 2;
      dialog.querySelector("[data-lightbox-next]").hidden = links.length < 2;
    }

    links.forEach(function (link, index) {
      link.addEventListener("click", function (event) {
        if (event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
        event.preventDefault();
        show(index);
        dialog.showModal();
        dialog.querySelector("[data-lightbox-close]").focus();
      });
    });
    dialog.querySelector("[data-lightbox-prev]").addEventListener("click", function () { show(current - 1); });
    dialog.querySelector("[data-lightbox-next]").addEventListener("click", function () { show(current + 1); });
    dialog.querySelector("[data-lightbox-close]").addEventListener("click", function () { dialog.close(); });
    dialog.addEventListener("keydown", function (event) {
      if (event.key === "ArrowLeft") { show(current - 1); event.preventDefault(); }
      if (event.key === "ArrowRight") { show(current + 1); event.preventDefault(); }
    }); // Esc is the dialog's own: it closes, and focus goes back to the picture that opened it
    dialog.addEventListener("click", function (event) {
      if (event.target === dialog) dialog.close(); // a click on the backdrop
    });
    dialog.addEventListener("close", function () {
      image.removeAttribute("src");
      var link = links[current];
      if (link) link.focus();
    });
  }

  /* --- 3. The showcase step ------------------------------------------------------------------------------ */

  function formatSize(kilobytes) {
    var bytes = kilobytes * 1024;
    if (bytes < 1024) return Math.round(bytes) + " B";
    if (bytes < 1024 * 1024) return Math.round(bytes / 1024) + " KB";
    return (bytes / (1024 * 1024)).toFixed(1) + " MB";
  }

  function setUpShowcase(panel) {
    var versionId = panel.dataset.versionId;
    var csrf = panel.dataset.csrf;
    var list = panel.querySelector("[data-showcase-list]");
    var empty = panel.querySelector("[data-showcase-empty]");
    var progress = panel.querySelector("[data-showcase-progress]");
    var form = panel.querySelector("[data-showcase-upload]");
    var input = form.querySelector('input[type="file"]');
    var zone = panel.querySelector("[data-dropzone]");
    var api = "/api/model-versions/" + versionId + "/showcase";

    form.querySelector("[data-showcase-submit]").hidden = true; // files go up as soon as they are chosen

    var kit = window.modelyardUploads;
    var say = kit.notice(panel, list, "showcase-note");

    var send = kit.sender(csrf);

    function button(label, action, extraClass, ariaLabel) {
      var form = document.createElement("form");
      form.method = "post";
      form.dataset.action = action;
      var control = document.createElement("button");
      control.type = "submit";
      control.className = "button button--ghost button--small" + (extraClass || "");
      control.textContent = label;
      if (ariaLabel) control.setAttribute("aria-label", ariaLabel);
      form.appendChild(control);
      return form;
    }

    function render(showcase) {
      list.replaceChildren();
      showcase.images.forEach(function (image, index) {
        var name = image.name || "image " + (index + 1);
        var item = document.createElement("li");
        item.className = "showcase-item";
        item.dataset.imageId = image.id;
        item.draggable = true;
        var thumb = document.createElement("img");
        thumb.className = "showcase-item__thumb";
        thumb.src = image.url;
        thumb.alt = "";
        thumb.width = image.width;
        thumb.height = image.height;
        var main = document.createElement("div");
        main.className = "showcase-item__main";
        var title = document.createElement("p");
        title.className = "showcase-item__name";
        title.textContent = image.name || "Image " + (index + 1);
        if (image.cover) {
          var badge = document.createElement("span");
          badge.className = "badge badge--accent";
          badge.dataset.coverBadge = "";
          badge.textContent = "cover";
          title.append(" ", badge);
        }
        if (!image.published) {
          var waiting = document.createElement("span");
          waiting.className = "badge badge--muted";
          waiting.textContent = "not published yet";
          title.append(" ", waiting);
        }
        var meta = document.createElement("p");
        meta.className = "muted showcase-item__meta";
        meta.textContent = image.width + " × " + image.height + " px · " + formatSize(image.size_kb);
        main.append(title, meta);
        var actions = document.createElement("div");
        actions.className = "showcase-item__actions";
        if (!image.cover) actions.appendChild(button("Make cover", "cover"));
        if (index > 0) actions.appendChild(button("↑", "earlier", "", "Move " + name + " earlier"));
        if (index < showcase.images.length - 1) actions.appendChild(button("↓", "later", "", "Move " + name + " later"));
        actions.appendChild(button("Remove", "remove", " button--danger", "Remove " + name));
        item.append(thumb, main, actions);
        list.appendChild(item);
      });
      list.hidden = showcase.images.length === 0;
      empty.hidden = showcase.images.length > 0;
    }

    function currentOrder() {
      return Array.prototype.map.call(list.querySelectorAll("[data-image-id]"), function (item) {
        return Number(item.dataset.imageId);
      });
    }

    function act(promise, done) {
      return promise.then(function (showcase) {
        render(showcase);
        say(done);
      }, function (error) {
        say(error.message, true);
      });
    }

    list.addEventListener("submit", function (event) {
      var action = event.target.dataset.action;
      var item = event.target.closest("[data-image-id]");
      if (!action || !item) return;
      event.preventDefault();
      var id = Number(item.dataset.imageId);
      if (action === "cover") {
        act(send("PUT", api + "/cover", { image_id: id }), "The cover is changed.");
      } else if (action === "remove") {
        act(send("DELETE", api + "/images/" + id), "The image is removed.");
      } else {
        var order = currentOrder();
        var at = order.indexOf(id);
        var to = Math.max(0, Math.min(order.length - 1, at + (action === "later" ? 1 : -1)));
        order.splice(to, 0, order.splice(at, 1)[0]);
        act(send("PUT", api + "/order", { image_ids: order }), "The order is saved.");
      }
    });

    /* Reordering by dragging an item over the others. */
    kit.sortable(list, function () {
      act(send("PUT", api + "/order", { image_ids: currentOrder() }), "The order is saved.");
    });

    kit.attach({
      form: form, input: input, zone: zone, progress: progress, url: api, csrf: csrf, done: render
    });
  }

  // The feed (feed.js) paints the cards it appends with the same code.
  window.modelyardPaintPlaceholders = paintPlaceholders;

  document.addEventListener("DOMContentLoaded", function () {
    paintPlaceholders(document);
    document.querySelectorAll("[data-gallery]").forEach(setUpViewer);
    document.querySelectorAll("[data-showcase]").forEach(setUpShowcase);
  });
})();
