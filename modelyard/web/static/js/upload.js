/* Resumable file uploads on the version page (form[data-resumable]), over the upload API:
   POST /api/model-versions/{id}/uploads, then parts PUT to signed URLs (three at a time, each retried), then
   POST /api/uploads/{id}/complete and polling while the server verifies the file.

   The server's list of uploads under way (ul[data-upload-list]) is the state that survives a reload: choosing
   the same file again (same name and size) resumes its upload from the parts the server holds. Without this
   script the form still works, as one multipart request. */
(function () {
  "use strict";

  var PARALLEL = 3;
  var RETRIES = 5;

  function sleep(ms) {
    return new Promise(function (resolve) { setTimeout(resolve, ms); });
  }

  function formatBytes(bytes) {
    var units = ["B", "KB", "MB", "GB", "TB"];
    var value = bytes;
    var unit = 0;
    while (value >= 1024 && unit < units.length - 1) {
      value /= 1024;
      unit += 1;
    }
    return (unit ? value.toFixed(1) : String(value)) + " " + units[unit];
  }

  function api(csrf, method, path, body) {
    var options = { method: method, credentials: "same-origin", headers: { Accept: "application/json", "X-CSRF-Token": csrf } };
    if (body !== undefined) {
      options.headers["Content-Type"] = "application/json";
      options.body = JSON.stringify(body);
    }
    return fetch(path, options).then(function (response) {
      if (response.status === 204) return null;
      return response.json().catch(function () { return {}; }).then(function (data) {
        if (!response.ok) throw new Error(data.detail || "HTTP " + response.status);
        return data;
      });
    });
  }

  /* PUT one part with progress events; the app's own /files URLs need the CSRF header, a bucket's do not. */
  function putPart(url, blob, csrf, onProgress) {
    return new Promise(function (resolve, reject) {
      var xhr = new XMLHttpRequest();
      xhr.open("PUT", url);
      if (new URL(url, location.href).origin === location.origin) xhr.setRequestHeader("X-CSRF-Token", csrf);
      xhr.upload.onprogress = function (event) { onProgress(event.loaded); };
      xhr.onload = function () {
        if (xhr.status === 200) resolve();
        else reject(new Error("part refused: HTTP " + xhr.status));
      };
      xhr.onerror = function () { reject(new Error("the connection dropped")); };
      xhr.send(blob);
    });
  }

  function row(list, upload) {
    var item = list.querySelector('[data-upload-id="' + upload.id + '"]');
    if (!item) {
      item = document.createElement("li");
      item.className = "item upload";
      item.dataset.uploadId = upload.id;
      var body = document.createElement("div");
      body.className = "item__body";
      var title = document.createElement("p");
      title.className = "item__title";
      title.textContent = upload.filename + " ";
      var badge = document.createElement("span");
      badge.className = "badge";
      badge.dataset.uploadBadge = "";
      title.appendChild(badge);
      var bar = document.createElement("progress");
      bar.className = "upload__bar";
      bar.setAttribute("aria-label", upload.filename + " uploaded");
      var note = document.createElement("p");
      note.className = "item__meta muted";
      note.dataset.uploadNote = "";
      note.setAttribute("aria-live", "polite");
      body.append(title, bar, note);
      item.appendChild(body);
      list.appendChild(item);
    }
    list.hidden = false;
    item.dataset.uploadName = upload.filename;
    item.dataset.uploadSize = upload.size;
    item.dataset.uploadStatus = upload.status;
    item.querySelector("[data-upload-badge]").textContent = upload.status;
    item.querySelector("progress").max = upload.size;
    return item;
  }

  function show(item, received, size, text) {
    var bar = item.querySelector("progress");
    bar.value = received;
    bar.textContent = Math.floor((100 * received) / size) + " %";
    item.querySelector("[data-upload-note]").textContent = text;
  }

  function storageKey(versionId, file) {
    return "modelyard-upload:" + versionId + ":" + file.name + ":" + file.size + ":" + file.lastModified;
  }

  /* The upload to resume for this file: the one this browser remembers, else one the page lists. */
  function findResumable(form, list, file) {
    var remembered = localStorage.getItem(storageKey(form.dataset.versionId, file));
    var candidates = remembered ? [remembered] : [];
    list.querySelectorAll('[data-upload-status="Uploading"], [data-upload-status="Verifying"]').forEach(function (item) {
      if (item.dataset.uploadName === file.name && Number(item.dataset.uploadSize) === file.size) candidates.push(item.dataset.uploadId);
    });
    return candidates.reduce(function (found, id) {
      return found.then(function (upload) {
        if (upload) return upload;
        return api(form.dataset.csrf, "GET", "/api/uploads/" + id).then(function (candidate) {
          return candidate.status === "Uploading" || candidate.status === "Verifying" ? candidate : null;
        }, function () { return null; });
      });
    }, Promise.resolve(null));
  }

  async function sendParts(form, upload, file, item) {
    var csrf = form.dataset.csrf;
    var have = {};
    upload.parts.forEach(function (part) { have[part.part_number] = part.size; });
    var done = 0;
    var todo = [];
    for (var number = 1; number <= upload.part_count; number += 1) {
      var size = Math.min(upload.part_size, upload.size - (number - 1) * upload.part_size);
      if (have[number] === size) done += size;
      else todo.push(number);
    }
    var inFlight = {};
    function report() {
      var moving = Object.keys(inFlight).reduce(function (sum, key) { return sum + inFlight[key]; }, 0);
      var received = done + moving;
      show(item, received, upload.size, formatBytes(received) + " of " + formatBytes(upload.size) + " sent");
    }
    report();
    async function worker() {
      while (todo.length) {
        var part = todo.shift();
        var start = (part - 1) * upload.part_size;
        var blob = file.slice(start, Math.min(start + upload.part_size, upload.size));
        for (var attempt = 0; ; attempt += 1) {
          try {
            var answer = await api(csrf, "POST", "/api/uploads/" + upload.id + "/part-urls", { parts: [part] });
            await putPart(answer.urls[0].url, blob, csrf, function (loaded) { inFlight[part] = loaded; report(); });
            break;
          } catch (error) {
            inFlight[part] = 0;
            if (attempt >= RETRIES) throw error;
            show(item, done, upload.size, "Part " + part + ": " + error.message + "; retrying…");
            await sleep(Math.min(30000, 1000 * Math.pow(2, attempt)));
          }
        }
        delete inFlight[part];
        done += blob.size;
        report();
      }
    }
    var workers = [];
    for (var i = 0; i < PARALLEL; i += 1) workers.push(worker());
    await Promise.all(workers);
    return api(csrf, "POST", "/api/uploads/" + upload.id + "/complete", {});
  }

  async function follow(csrf, upload, item) {
    while (upload.status === "Verifying") {
      row(item.parentNode, upload);
      show(item, upload.size, upload.size, "All " + formatBytes(upload.size) + " received: joining, hashing and inspecting…");
      await sleep(1000);
      upload = await api(csrf, "GET", "/api/uploads/" + upload.id);
    }
    return upload;
  }

  async function run(form, list, file) {
    var csrf = form.dataset.csrf;
    var button = form.querySelector('button[type="submit"]');
    button.disabled = true;
    var item = null;
    try {
      var upload = await findResumable(form, list, file);
      if (!upload) {
        var metadata = {};
        ["format", "size", "fp"].forEach(function (name) {
          if (form.elements[name] && form.elements[name].value) metadata[name] = form.elements[name].value;
        });
        upload = await api(csrf, "POST", "/api/model-versions/" + form.dataset.versionId + "/uploads", {
          filename: file.name, size: file.size, type: form.elements.type.value, metadata: metadata,
        });
      }
      localStorage.setItem(storageKey(form.dataset.versionId, file), upload.id);
      item = row(list, upload);
      if (upload.status === "Uploading") upload = await sendParts(form, upload, file, item);
      upload = await follow(csrf, upload, row(list, upload));
      localStorage.removeItem(storageKey(form.dataset.versionId, file));
      if (upload.status === "Complete") {
        location.assign("/model-versions/" + form.dataset.versionId + "/edit?done=file-uploaded");
        return;
      }
      row(list, upload).classList.add("upload--failed");
      show(item, 0, upload.size, "Refused: " + (upload.error || upload.status));
    } catch (error) {
      if (item) show(item, Number(item.querySelector("progress").value), Number(item.dataset.uploadSize), error.message + ". Choose the file again to resume.");
      else alert(error.message);
    } finally {
      button.disabled = false;
    }
  }

  document.addEventListener("DOMContentLoaded", function () {
    var form = document.querySelector("form[data-resumable]");
    var list = document.querySelector("[data-upload-list]");
    if (!form || !list || !window.fetch || !window.localStorage) return;
    form.addEventListener("submit", function (event) {
      var file = form.elements.file.files[0];
      if (!file) return;
      event.preventDefault();
      run(form, list, file);
    });
    list.addEventListener("click", function (event) {
      var cancel = event.target.closest("[data-upload-cancel]");
      if (!cancel) return;
      var item = cancel.closest("[data-upload-id]");
      api(form.dataset.csrf, "DELETE", "/api/uploads/" + item.dataset.uploadId).then(function () {
        item.remove();
        if (!list.children.length) list.hidden = true;
      }, function (error) { alert(error.message); });
    });
    /* A verification that was running when the page was (re)loaded: follow it, then show the file. */
    list.querySelectorAll('[data-upload-status="Verifying"]').forEach(function (item) {
      follow(form.dataset.csrf, { id: item.dataset.uploadId, status: "Verifying", size: Number(item.dataset.uploadSize), filename: item.dataset.uploadName }, item)
        .then(function () { location.reload(); });
    });
  });
})();
