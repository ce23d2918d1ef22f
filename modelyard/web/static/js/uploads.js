/* Image uploads with a progress bar per file, for the version's image step (images.js) and the post editor
   (post_editor.js): files chosen, dropped on the zone or sent with the form go up one request each, in turn,
   to `url` as the multipart field "images". `done(answer)` gets each accepted upload's JSON (HTTP 201).

     window.modelyardUploads.attach({form, input, zone, progress, url, csrf, done});
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

  window.modelyardUploads = { attach: attach };
})();
