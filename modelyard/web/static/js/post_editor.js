/* The post editor ([data-post-editor], images/post_edit.html); the page works without this file.

   Files dropped or chosen go up at once, one request each with its own progress bar; the order is changed by
   dragging (or the arrow buttons); tags are saved with their button or Enter, the "Hide generation data" switch
   as soon as it is flipped; each image's ingestion state (Pending, Scanned, Blocked, Error) is refreshed until
   none is Pending. All of it through the JSON API (/api/posts/{id}..., /api/images/{id}), the same actions the
   page's plain forms do without JavaScript. */
(function () {
  "use strict";

  var POLL_MS = 1500;
  var BADGES = { Scanned: "badge--ok", Pending: "badge--warn" };

  function setUp(panel) {
    var postId = panel.dataset.postId;
    var csrf = panel.dataset.csrf;
    var maxImages = Number(panel.dataset.maxImages);
    var list = panel.querySelector("[data-post-images]");
    var empty = panel.querySelector("[data-post-empty]");
    var progress = panel.querySelector("[data-post-progress]");
    var count = panel.querySelector("[data-image-count]");
    var form = panel.querySelector("[data-post-upload]");
    var input = form.querySelector('input[type="file"]');
    var zone = panel.querySelector("[data-dropzone]");
    var api = "/api/posts/" + postId;
    var polling = null;

    form.querySelector("[data-upload-submit]").hidden = true; // files go up as soon as they are chosen

    var kit = window.modelyardUploads;
    var say = kit.notice(panel, list, "post-note");

    var send = kit.sender(csrf);

    function element(tag, className, text) {
      var node = document.createElement(tag);
      if (className) node.className = className;
      if (text !== undefined) node.textContent = text;
      return node;
    }

    function actionForm(action, label, ariaLabel, extraClass) {
      var box = element("form");
      box.method = "post";
      box.dataset.action = action;
      var control = element("button", "button button--ghost button--small" + (extraClass || ""), label);
      control.type = "submit";
      if (ariaLabel) control.setAttribute("aria-label", ariaLabel);
      box.appendChild(control);
      return box;
    }

    function stateBadge(state) {
      var badge = element("span", "badge " + (BADGES[state] || "badge--bad"), state);
      badge.dataset.stateBadge = "";
      return badge;
    }

    function item(image, index, total) {
      var name = image.name || "image " + (index + 1);
      var row = element("li", "showcase-item post-image");
      row.dataset.imageId = image.id;
      row.dataset.state = image.ingestion;
      row.draggable = true;
      var thumb = element("img", "showcase-item__thumb");
      thumb.src = image.thumbnail_url;
      thumb.alt = "";
      thumb.width = image.width;
      thumb.height = image.height;
      var main = element("div", "showcase-item__main");
      var title = element("p", "showcase-item__name", image.name || "Image " + (index + 1));
      title.append(" ", stateBadge(image.ingestion));
      main.appendChild(title);
      if (image.ingestion_error) main.appendChild(element("p", "muted showcase-item__meta", image.ingestion_error));
      if (image.ingestion === "Error") main.appendChild(actionForm("rescan", "Process it again"));

      var tags = actionForm("tags", "Save tags");
      tags.className = "post-image__tags";
      var label = element("label", "visually-hidden", "Tags of " + name);
      var field = element("input", "input input--small");
      field.id = label.htmlFor = "tags-" + image.id;
      field.name = "tags";
      field.maxLength = 2000;
      field.placeholder = "Tags, separated by commas";
      field.value = image.tags.join(", ");
      tags.prepend(label, field);
      main.appendChild(tags);

      var meta = element("form", "post-image__meta");
      meta.dataset.action = "meta";
      var switchLabel = element("label", "post-image__switch");
      var box = element("input");
      box.type = "checkbox";
      box.name = "hide_meta";
      box.checked = image.hide_meta;
      switchLabel.append(box, " Hide generation data");
      meta.appendChild(switchLabel);
      main.appendChild(meta);

      var actions = element("div", "showcase-item__actions");
      if (index > 0) actions.appendChild(actionForm("earlier", "↑", "Move " + name + " earlier"));
      if (index < total - 1) actions.appendChild(actionForm("later", "↓", "Move " + name + " later"));
      actions.appendChild(actionForm("remove", "Remove", "Remove " + name, " button--danger"));
      row.append(thumb, main, actions);
      return row;
    }

    function render(post) {
      list.replaceChildren();
      post.images.forEach(function (image, index) { list.appendChild(item(image, index, post.images.length)); });
      list.hidden = post.images.length === 0;
      empty.hidden = post.images.length > 0;
      count.textContent = post.images.length + " of " + maxImages;
      watch();
    }

    function currentOrder() {
      return Array.prototype.map.call(list.querySelectorAll("[data-image-id]"), function (row) {
        return Number(row.dataset.imageId);
      });
    }

    /* Only the states change while people type tags: those are updated in place, the rest left alone. */
    function refresh(post) {
      var ids = post.images.map(function (image) { return image.id; });
      if (ids.join() !== currentOrder().join()) return render(post);
      post.images.forEach(function (image) {
        var row = list.querySelector('[data-image-id="' + image.id + '"]');
        if (row.dataset.state === image.ingestion) return;
        row.dataset.state = image.ingestion;
        row.querySelector("[data-state-badge]").replaceWith(stateBadge(image.ingestion));
        row.querySelector("img").src = image.thumbnail_url;
      });
      watch();
    }

    function watch() {
      if (polling || !list.querySelector('[data-state="Pending"]')) return;
      polling = setTimeout(function () {
        send("GET", api).then(function (post) {
          polling = null;
          refresh(post);
        }, function () {
          polling = null; // a failed poll (offline, logged out) stops; a reload starts it again
        });
      }, POLL_MS);
    }

    function act(promise, done) {
      return promise.then(function (post) {
        render(post);
        say(done);
      }, function (error) {
        say(error.message, true);
      });
    }

    function saveTags(row) {
      var field = row.querySelector('input[name="tags"]');
      var names = field.value.split(",").map(function (name) { return name.trim(); }).filter(Boolean);
      return send("PATCH", "/api/images/" + row.dataset.imageId, { tags: names }).then(function (image) {
        field.value = image.tags.join(", ");
        say("The tags are saved.");
      }, function (error) { say(error.message, true); });
    }

    function saveMeta(row, box) {
      return send("PATCH", "/api/images/" + row.dataset.imageId, { hide_meta: box.checked }).then(function (image) {
        box.checked = image.hide_meta;
        say(image.hide_meta ? "Its generation data is hidden." : "Its generation data is shown.");
      }, function (error) {
        box.checked = !box.checked;
        say(error.message, true);
      });
    }

    list.addEventListener("submit", function (event) {
      var action = event.target.dataset.action;
      var row = event.target.closest("[data-image-id]");
      if (!action || !row) return;
      event.preventDefault();
      var id = Number(row.dataset.imageId);
      if (action === "tags") return saveTags(row);
      if (action === "meta") return saveMeta(row, row.querySelector('input[name="hide_meta"]'));
      if (action === "remove") {
        return act(send("DELETE", "/api/images/" + id).then(function () { return send("GET", api); }), "The image is removed.");
      }
      if (action === "rescan") {
        return act(send("POST", "/api/images/" + id + "/rescan").then(function () { return send("GET", api); }),
          "The image is being processed again.").then(watch);
      }
      var order = currentOrder();
      var at = order.indexOf(id);
      var to = Math.max(0, Math.min(order.length - 1, at + (action === "later" ? 1 : -1)));
      order.splice(to, 0, order.splice(at, 1)[0]);
      act(send("PUT", api + "/order", { image_ids: order }), "The order is saved.");
    });
    list.addEventListener("change", function (event) {
      if (event.target.name !== "hide_meta") return;
      saveMeta(event.target.closest("[data-image-id]"), event.target);
    });
    list.querySelectorAll("[data-meta-save]").forEach(function (button) { button.hidden = true; });

    /* Reordering by dragging an image over the others. */
    kit.sortable(list, function () {
      act(send("PUT", api + "/order", { image_ids: currentOrder() }), "The order is saved.");
    });

    kit.attach({
      form: form, input: input, zone: zone, progress: progress, url: api + "/images", csrf: csrf, done: render
    });
    watch();
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("[data-post-editor]").forEach(setUp);
  });
})();
