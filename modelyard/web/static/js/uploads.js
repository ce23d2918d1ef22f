/* What the version's image step (images.js) and the post editor (post_editor.js) share: uploads with a progress
   bar per file, JSON requests carrying the CSRF token, the panel's notice line, and reordering a list of images
   by dragging.

     var kit = window.modelyardUploads;
     kit.attach({form, input, zone, progress, url, csrf, done});  // files chosen, dropped or sent with the form
                                                                   // go up one request each, in turn, as "images";
                                                                   // done(answer) gets each accepted one's JSON
     var send = kit.sender(csrf);               // send(method, path, body) -> Promise of the JSON answer
     var say = kit.notice(panel, list, "note"); // say(text, bad): a notice above `list`
     kit.sortable(list, function () { ... });   // rows [data-image-id] dragged; called once dropped
*/
(function () {
  "use strict";

  function element(tag, className, text) {
    var node = document.createElement(tag);
    node.className = className;
    if (text) node.textContent = text;
    return node;
  }

  function attach(options) {
    var queue = Promise.resolve();

    function upload(file) {
      var row = element("li", "item upload");
      var body = element("div", "item__body");
      var bar = element("progress", "upload__bar");
      bar.max = file.size || 1;
      bar.value = 0;
      bar.setAttribute("aria-label", file.name + " uploaded");
      var note = element("p", "item__meta muted", "Waiting…");
      note.setAttribute("aria-live", "polite");
      body.append(element("p", "item__title", file.name), bar, note);
      row.appendChild(body);
      options.progress.appendChild(row);
      options.progress.hidden = false;
      return function () {
        return new Promise(function (resolve) {
          var data = new FormData();
          data.append("images", file, file.name);
          var xhr = new XMLHttpRequest();
          xhr.open("POST", options.url);
          xhr.setRequestHeader("X-CSRF-Token", options.csrf);
          xhr.setRequestHeader("Accept", "application/json");
          xhr.upload.onprogress = function (event) {
            bar.value = event.loaded;
            bar.max = event.total || bar.max;
            note.textContent = Math.floor((100 * event.loaded) / (event.total || 1)) + " % sent";
          };
          xhr.onload = function () {
            var answer = {};
            try { answer = JSON.parse(xhr.responseText); } catch (e) { answer = {}; }
            if (xhr.status === 201) {
              bar.value = bar.max;
              note.textContent = "Added.";
              row.classList.add("upload--done");
              options.done(answer);
            } else {
              row.classList.add("upload--failed");
              note.textContent = "Refused: " + (answer.detail || "HTTP " + xhr.status);
            }
            resolve();
          };
          xhr.onerror = function () {
            row.classList.add("upload--failed");
            note.textContent = "The connection dropped; choose the file again.";
            resolve();
          };
          note.textContent = "Sending…";
          xhr.send(data);
        });
      };
    }

    function uploadAll(files) {
      Array.prototype.forEach.call(files, function (file) { queue = queue.then(upload(file)); });
      queue = queue.then(function () { options.input.value = ""; });
    }

    var input = options.input, zone = options.zone;
    input.addEventListener("change", function () {
      if (input.files && input.files.length) uploadAll(input.files);
    });
    options.form.addEventListener("submit", function (event) {
      event.preventDefault();
      if (input.files && input.files.length) uploadAll(input.files);
    });
    ["dragenter", "dragover"].forEach(function (name) {
      zone.addEventListener(name, function (event) {
        if (!event.dataTransfer || Array.prototype.indexOf.call(event.dataTransfer.types, "Files") < 0) return;
        event.preventDefault();
        zone.classList.add("is-over");
      });
    });
    ["dragleave", "drop"].forEach(function (name) {
      zone.addEventListener(name, function () { zone.classList.remove("is-over"); });
    });
    zone.addEventListener("drop", function (event) {
      if (!event.dataTransfer || !event.dataTransfer.files.length) return;
      event.preventDefault();
      uploadAll(event.dataTransfer.files);
    });
  }

  function sender(csrf) {
    return function send(method, path, body) {
      var options = { method: method, credentials: "same-origin", headers: { Accept: "application/json", "X-CSRF-Token": csrf } };
      if (body !== undefined) {
        options.headers["Content-Type"] = "application/json";
        options.body = JSON.stringify(body);
      }
      return fetch(path, options).then(function (response) {
        if (response.status === 204) return {};
        return response.json().catch(function () { return {}; }).then(function (data) {
          if (!response.ok) throw new Error(data.detail || "The server said no (HTTP " + response.status + ")");
          return data;
        });
      });
    };
  }

  function notice(panel, before, key) {
    return function say(text, bad) {
      var note = panel.querySelector("[data-" + key + "]");
      if (!note) {
        note = document.createElement("p");
        note.setAttribute("data-" + key, "");
        panel.insertBefore(note, before);
      }
      note.className = bad ? "notice notice--bad notice--block" : "notice notice--ok notice--block";
      note.setAttribute("role", bad ? "alert" : "status");
      note.textContent = text;
    };
  }

  function sortable(list, dropped) {
    var dragged = null;
    list.addEventListener("dragstart", function (event) {
      dragged = event.target.closest && event.target.closest("[data-image-id]");
      if (!dragged) return;
      dragged.classList.add("is-dragged");
      event.dataTransfer.effectAllowed = "move";
      event.dataTransfer.setData("text/plain", dragged.dataset.imageId);
    });
    list.addEventListener("dragover", function (event) {
      if (!dragged) return;
      event.preventDefault();
      var over = event.target.closest("[data-image-id]");
      if (!over || over === dragged) return;
      var box = over.getBoundingClientRect();
      list.insertBefore(dragged, event.clientY > box.top + box.height / 2 ? over.nextSibling : over);
    });
    list.addEventListener("drop", function (event) {
      if (dragged) event.preventDefault();
    });
    list.addEventListener("dragend", function () {
      if (!dragged) return;
      dragged.classList.remove("is-dragged");
      dragged = null;
      dropped();
    });
  }

  window.modelyardUploads = { attach: attach, sender: sender, notice: notice, sortable: sortable };
})();
