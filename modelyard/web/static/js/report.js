/* The report dialog: a click on a report button ([data-report], moderation/_report.html) opens a <dialog> with the
   reasons, and files the report through POST /api/reports without leaving the page. Without JavaScript the button
   is a link to the report page, which does the same with a form. Visitors who are not logged in follow the link
   (the page asks them to log in first). */
(function () {
  "use strict";

  function csrfToken() {
    try {
      return JSON.parse(document.body.getAttribute("hx-headers") || "{}")["X-CSRF-Token"] || "";
    } catch (error) {
      return "";
    }
  }

  function element(tag, attributes, text) {
    var node = document.createElement(tag);
    Object.keys(attributes || {}).forEach(function (name) { node.setAttribute(name, attributes[name]); });
    if (text) node.textContent = text;
    return node;
  }

  function buildDialog(button) {
    var reasons = JSON.parse(button.dataset.reportReasons || "[]");
    var dialog = element("dialog", { "class": "report-dialog", "aria-labelledby": "report-dialog-title", "data-report-dialog": "" });
    var form = element("form", { method: "dialog" });
    form.appendChild(element("h2", { id: "report-dialog-title" }, (button.textContent || "").trim() || "Report this"));
    var fieldset = element("fieldset", { "class": "fieldset" });
    fieldset.appendChild(element("legend", { "class": "field__label" }, "Why are you reporting it?"));
    reasons.forEach(function (pair, index) {
      var label = element("label", { "class": "choice" });
      var input = element("input", { type: "radio", name: "reason", value: pair[0] });
      if (index === 0) input.required = true;
      label.appendChild(input);
      label.appendChild(document.createTextNode(" " + pair[1]));
      fieldset.appendChild(label);
    });
    form.appendChild(fieldset);
    var detailsLabel = element("label", { "class": "field__label", "for": "report-dialog-details" }, "Details (optional)");
    var details = element("textarea", { "class": "input", id: "report-dialog-details", name: "details", rows: "3", maxlength: "2000" });
    form.appendChild(detailsLabel);
    form.appendChild(details);
    var status = element("p", { "class": "report-dialog__status", role: "status", "aria-live": "polite" });
    form.appendChild(status);
    var actions = element("div", { "class": "report-dialog__actions" });
    var cancel = element("button", { type: "button", "class": "button button--ghost", value: "cancel" }, "Cancel");
    var send = element("button", { type: "submit", "class": "button button--primary", "data-report-send": "" }, "Send the report");
    actions.appendChild(cancel);
    actions.appendChild(send);
    form.appendChild(actions);
    dialog.appendChild(form);

    cancel.addEventListener("click", function () { dialog.close(); });
    dialog.addEventListener("close", function () { dialog.remove(); });
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      var chosen = form.querySelector("input[name=reason]:checked");
      if (!chosen) { status.textContent = "Choose a reason."; return; }
      send.disabled = true;
      status.textContent = "Sending…";
      fetch("/api/reports", {
        method: "POST",
        credentials: "same-origin",
        headers: { "Content-Type": "application/json", Accept: "application/json", "X-CSRF-Token": csrfToken() },
        body: JSON.stringify({
          entity_type: button.dataset.reportType,
          entity_id: Number(button.dataset.reportId),
          reason: chosen.value,
          details: details.value || null
        })
      }).then(function (response) {
        if (response.status === 401) { window.location.href = button.href; return null; }
        return response.json().then(function (body) { return { ok: response.ok, body: body }; });
      }).then(function (result) {
        if (!result) return;
        if (result.ok) {
          status.textContent = "Thank you: your report is filed. You can follow it under My reports.";
          send.hidden = true;
          cancel.textContent = "Close";
          button.setAttribute("aria-disabled", "true");
        } else {
          status.textContent = (result.body && result.body.detail) || "The report could not be filed.";
          send.disabled = false;
        }
      }).catch(function () {
        status.textContent = "The report could not be sent; check your connection and try again.";
        send.disabled = false;
      });
    });
    return dialog;
  }

  document.addEventListener("click", function (event) {
    var button = event.target.closest ? event.target.closest("[data-report]") : null;
    if (!button || typeof HTMLDialogElement === "undefined") return;
    event.preventDefault();
    var dialog = buildDialog(button);
    document.body.appendChild(dialog);
    dialog.showModal();
  });
})();
