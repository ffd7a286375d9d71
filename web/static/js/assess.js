// The self-assessment and appraisal forms, enhanced: evidence uploads with a progress bar, removals without
// a page reload (so typed but unsaved values stay), and a warning before leaving with unsaved changes.
// Every form also works as a plain post without this file.
(function () {
  "use strict";

  var dirty = false;

  function setVersion(version) {
    // each upload or removal moves the case version on; the other forms on the page must follow it
    document.querySelectorAll('input[name="version"]').forEach(function (input) { input.value = version; });
  }

  function showMessages(list, messages) {
    if (!list) { return; }
    list.textContent = "";
    messages.forEach(function (text) {
      var li = document.createElement("li");
      li.className = "error";
      li.textContent = text;
      list.appendChild(li);
    });
  }

  function replaceEvidence(code, html) {
    var old = document.querySelector('[data-evidence-for="' + CSS.escape(code) + '"]');
    if (!old || !html) { return; }
    var holder = document.createElement("div");
    holder.innerHTML = html; // rendered (and escaped) by the server's template
    var fresh = holder.querySelector("[data-evidence-for]");
    if (!fresh) { return; }
    old.replaceWith(fresh);
    // the "missing required evidence" count at the top follows this item's change
    var delta = (fresh.dataset.missing === "yes" ? 1 : 0) - (old.dataset.missing === "yes" ? 1 : 0);
    var counter = document.getElementById("missing-evidence-count");
    if (delta && counter) {
      var count = Math.max(0, parseInt(counter.textContent, 10) + delta);
      counter.textContent = String(count);
      var progress = document.getElementById("progress");
      if (progress) { progress.dataset.missingEvidence = String(count); }
    }
  }

  function failure(status, form) {
    if (status === 413) { return form.dataset.msgTooLarge; }
    if (status === 409) { return form.dataset.msgConflict; }
    return form.dataset.msgFailed;
  }

  function upload(form) {
    var box = document.querySelector('[data-upload-for="' + form.id + '"]');
    if (!box) { return; }
    var input = box.querySelector('input[type="file"]');
    var locator = box.querySelector('input[name="locator"]');
    var bar = box.querySelector("progress");
    var button = box.querySelector("button");
    var refused = box.querySelector("[data-upload-refused]");
    var code = form.querySelector('input[name="code"]').value;
    var limits = document.getElementById("upload-limits");
    var max = limits ? parseInt(limits.dataset.maxBytes, 10) : 0;
    var tooBig = Array.prototype.filter.call(input.files, function (f) { return max && f.size > max; });
    if (tooBig.length) {
      showMessages(refused, tooBig.map(function (f) { return f.name + ": " + form.dataset.msgTooLarge; }));
      return;
    }
    var xhr = new XMLHttpRequest();
    xhr.open("POST", form.action);
    xhr.setRequestHeader("X-Requested-With", "XMLHttpRequest");
    xhr.setRequestHeader("Accept", "application/json");
    xhr.upload.addEventListener("progress", function (event) {
      if (event.lengthComputable) { bar.value = Math.round(event.loaded * 100 / event.total); }
    });
    xhr.addEventListener("load", function () {
      bar.hidden = true;
      button.disabled = false;
      if (xhr.status !== 200) { showMessages(refused, [failure(xhr.status, form)]); return; }
      var reply = JSON.parse(xhr.responseText);
      setVersion(reply.version);
      replaceEvidence(code, reply.html);
      showMessages(refused, reply.refused.map(function (r) { return r.reason; }));
      input.value = "";
      if (locator) { locator.value = ""; }
    });
    xhr.addEventListener("error", function () {
      bar.hidden = true;
      button.disabled = false;
      showMessages(refused, [form.dataset.msgFailed]);
    });
    bar.value = 0;
    bar.hidden = false;
    button.disabled = true;
    showMessages(refused, []);
    xhr.send(new FormData(form)); // holds the file and locator inputs joined to it by form="…"
  }

  function remove(button) {
    var draft = document.getElementById("draft");
    var block = button.closest("[data-evidence-for]");
    var body = new FormData();
    body.append("csrf_token", draft.querySelector('input[name="csrf_token"]').value);
    body.append("version", draft.querySelector('input[name="version"]').value);
    button.disabled = true;
    fetch(button.formAction, {
      method: "POST", body: body, credentials: "same-origin",
      headers: {"X-Requested-With": "XMLHttpRequest", "Accept": "application/json"}
    }).then(function (response) {
      if (!response.ok) { throw new Error(String(response.status)); }
      return response.json();
    }).then(function (reply) {
      setVersion(reply.version);
      replaceEvidence(block.dataset.evidenceFor, reply.html);
    }).catch(function () {
      // fall back to the plain post: the server answers with the page and its message
      button.disabled = false;
      button.removeAttribute("data-remove");
      button.click();
    });
  }

  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (form.matches("form[data-upload]") && window.FormData && window.XMLHttpRequest) {
      event.preventDefault();
      upload(form);
    } else if (form.id === "draft") {
      dirty = false;
    }
  });

  document.addEventListener("click", function (event) {
    var button = event.target.closest("button[data-remove]");
    if (button && window.fetch) {
      event.preventDefault();
      remove(button);
    }
  });

  document.addEventListener("input", function (event) {
    var draft = document.getElementById("draft");
    if (draft && event.target.form === draft) {
      dirty = true;
      var note = draft.querySelector("[data-dirty-note]");
      if (note) { note.hidden = false; }
    }
  });

  window.addEventListener("beforeunload", function (event) {
    if (dirty) { event.preventDefault(); event.returnValue = ""; }
  });
}());
