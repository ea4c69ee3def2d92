/* The template editor's live preview and placeholder insertion.
   Everything else in the admin works without JavaScript. */
(function () {
  "use strict";
  const form = document.getElementById("template-form");
  if (!form) return;
  const csrf = form.querySelector("input[name=csrf_token]").value;
  const eventSelect = document.querySelector("select[name=event]");
  const list = document.getElementById("placeholders");
  let target = form.querySelector("textarea[name=body_html]");
  let timer = null;

  form.querySelectorAll("input[name=subject], textarea").forEach(function (el) {
    el.addEventListener("focus", function () { target = el; });
    el.addEventListener("input", schedule);
  });

  function insert(text) {
    // A field the editor (vendor/template-editor.js) stands in for: insert there.
    if (target.codeEditor) { target.codeEditor.insert(text); return; }
    const start = target.selectionStart ?? target.value.length;
    const end = target.selectionEnd ?? start;
    target.value = target.value.slice(0, start) + text + target.value.slice(end);
    target.focus();
    target.selectionStart = target.selectionEnd = start + text.length;
    // As if typed: the live preview follows.
    target.dispatchEvent(new Event("input", {bubbles: true}));
  }

  list.addEventListener("click", function (e) {
    const chip = e.target.closest("[data-insert]");
    if (chip) { e.preventDefault(); insert(chip.dataset.insert); }
  });

  function renderPlaceholders(items) {
    list.replaceChildren();
    items.forEach(function (p) {
      const li = document.createElement("li");
      const chip = document.createElement("button");
      chip.type = "button"; chip.className = "chip"; chip.textContent = p.name;
      chip.dataset.insert = "{{ " + p.name + " }}"; chip.title = p.description;
      const note = document.createElement("small");
      note.className = "muted"; note.textContent = " " + p.description + (p.sample ? " · " + p.sample : "");
      li.append(chip, note);
      list.append(li);
    });
  }

  const languageSelect = form.querySelector("select[name=language]");
  function reloadPlaceholders() {
    // The samples follow the template's language (issue 17).
    const language = languageSelect ? languageSelect.value : "";
    fetch(form.dataset.placeholdersUrl + "?event=" + encodeURIComponent(eventSelect.value) +
          "&language=" + encodeURIComponent(language))
      .then(function (r) { return r.json(); }).then(renderPlaceholders);
    schedule();
  }
  eventSelect.addEventListener("change", reloadPlaceholders);
  if (languageSelect) languageSelect.addEventListener("change", reloadPlaceholders);

  function schedule() { clearTimeout(timer); timer = setTimeout(refresh, 350); }
  const source = document.getElementById("preview-source");
  if (source) source.addEventListener("change", schedule);

  function showProblems(problems) {
    let box = document.getElementById("live-problems");
    if (!box) {
      box = document.createElement("ul");
      box.id = "live-problems"; box.className = "flash error live-problems";
      document.getElementById("preview").prepend(box);
    }
    box.replaceChildren();
    box.hidden = problems.length === 0;
    if (problems.length === 0) {
      // Clean again: the "Not saved" boxes of the last refused save no longer apply.
      document.querySelectorAll("#problems, #form-errors, main > .flash.error").forEach(function (el) { el.hidden = true; });
    }
    problems.forEach(function (p) {
      const li = document.createElement("li");
      li.textContent = (p.field || "") + (p.line ? " (" + p.line + ")" : "") + ": " + p.message;
      box.append(li);
    });
  }

  // Answers can arrive out of order on a busy server: only the latest request's is shown,
  // or an older text's preview (or its blank frame) would stay on the page.
  let latest = 0;
  function refresh() {
    const data = new FormData(form);
    data.set("action", "preview");
    const ticket = ++latest;
    fetch(form.dataset.previewUrl, {method: "POST", body: data, headers: {"X-CSRFToken": csrf}})
      .then(function (r) { return r.json(); })
      .then(function (answer) {
        if (ticket !== latest) return;
        showProblems(answer.problems);
        const empty = document.getElementById("preview-empty");
        if (empty) empty.hidden = !!answer.preview;
        const frame = document.getElementById("preview-html");
        const text = document.getElementById("preview-text");
        if (!answer.preview) return;
        const error = document.getElementById("preview-error");
        if (error) { error.hidden = !answer.preview.error; error.textContent = answer.preview.error || ""; }
        document.getElementById("preview-subject").textContent = answer.preview.subject;
        const frameBox = document.getElementById("preview-html-box");
        if (frameBox) frameBox.hidden = !answer.preview.html; else frame.hidden = !answer.preview.html;
        // A new frame for each preview: Chromium sometimes never lays out a srcdoc assigned to a
        // sandboxed frame that was in a hidden box (a blank HTML preview, issue 17); a frame
        // inserted with its srcdoc is laid out.
        const fresh = frame.cloneNode(false);
        fresh.srcdoc = answer.preview.html;
        frame.replaceWith(fresh);
        text.hidden = !answer.preview.text; text.textContent = answer.preview.text;
      });
  }
})();
