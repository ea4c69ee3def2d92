/* The template editor's code fields: placeholder completion and highlighting.

   Progressive enhancement of the plain fields (they work without JavaScript):
   - typing "{{ mie" offers the event's placeholders that match ("mieter.name"),
     taken from the placeholder list beside the editor (admin.js keeps it in
     step with the chosen event and language); arrows choose, Enter or Tab
     accept, Escape closes;
   - the HTML and text bodies show {{ placeholders }}, {% tags %}, {# comments #}
     and HTML tags in colour: a <pre> under a textarea whose own text is
     transparent, so typing, selecting, spell-check off and undo stay the
     browser's own.
   Our own ~200 lines rather than a library: the project has no JavaScript
   build, and the editors that do this (CodeMirror 6, Monaco) need a bundler
   and weigh 150 KB and more for two small features. No inline script or
   style is written (CSP: script-src 'self'); only text nodes, never HTML. */
(function () {
  "use strict";
  const form = document.getElementById("template-form");
  if (!form) return;
  const list = document.getElementById("placeholders");

  function names() {
    if (!list) return [];
    return Array.from(list.querySelectorAll(".chip")).map(function (chip) { return chip.textContent.trim(); });
  }

  // --- highlighting -----------------------------------------------------------------------
  const TOKEN = /(\{\{[\s\S]*?(?:\}\}|$))|(\{%[\s\S]*?(?:%\}|$))|(\{#[\s\S]*?(?:#\}|$))|(<\/?[A-Za-z][^<>]*>?)/g;
  const KINDS = ["tok-var", "tok-tag", "tok-comment", "tok-html"];

  function paint(pre, text) {
    const out = document.createDocumentFragment();
    let last = 0;
    TOKEN.lastIndex = 0;
    let match;
    while ((match = TOKEN.exec(text)) !== null) {
      if (match[0] === "") { TOKEN.lastIndex++; continue; }
      if (match.index > last) out.append(text.slice(last, match.index));
      const span = document.createElement("span");
      span.className = KINDS[match.slice(1).findIndex(function (g) { return g !== undefined; })];
      span.textContent = match[0];
      out.append(span);
      last = match.index + match[0].length;
    }
    out.append(text.slice(last) + "\n");  // the trailing newline keeps the last line's height
    pre.replaceChildren(out);
  }

  function highlight(area) {
    const box = document.createElement("div");
    box.className = "code-editor";
    const pre = document.createElement("pre");
    pre.className = "code-highlight";
    pre.setAttribute("aria-hidden", "true");
    area.parentNode.insertBefore(box, area);
    box.append(pre, area);
    area.classList.add("code-input");
    const sync = function () {
      paint(pre, area.value);
      pre.scrollTop = area.scrollTop;
      pre.scrollLeft = area.scrollLeft;
    };
    area.addEventListener("input", sync);
    area.addEventListener("scroll", sync);
    // admin.js inserts placeholders by setting the value: follow it too.
    area.addEventListener("focus", sync);
    sync();
    return sync;
  }

  // --- completion -------------------------------------------------------------------------
  const OPEN = /\{\{-?\s*([A-Za-z_][\w.]*|)$/;
  let counter = 0;

  function complete(field, repaint) {
    const box = document.createElement("ul");
    box.className = "completions";
    box.id = "completions-" + (++counter);
    box.setAttribute("role", "listbox");
    box.hidden = true;
    (field.closest(".code-editor") || field).after(box);
    field.setAttribute("aria-autocomplete", "list");
    field.setAttribute("aria-controls", box.id);
    let items = [];
    let active = 0;
    let typed = "";

    function close() {
      box.hidden = true;
      items = [];
      field.removeAttribute("aria-activedescendant");
    }

    function mark() {
      Array.from(box.children).forEach(function (li, i) {
        li.setAttribute("aria-selected", i === active ? "true" : "false");
      });
      if (box.children[active]) field.setAttribute("aria-activedescendant", box.children[active].id);
    }

    function open() {
      const before = field.value.slice(0, field.selectionStart);
      const match = OPEN.exec(before);
      if (!match || field.selectionStart !== field.selectionEnd) return close();
      typed = match[1];
      const lower = typed.toLowerCase();
      const all = names();
      // Names that start with what was typed first, then those that contain it.
      items = all.filter(function (n) { return n.toLowerCase().startsWith(lower); })
        .concat(all.filter(function (n) { return !n.toLowerCase().startsWith(lower) && lower && n.toLowerCase().includes(lower); }))
        .slice(0, 12);
      if (items.length === 0 || (items.length === 1 && items[0] === typed)) return close();
      box.replaceChildren();
      items.forEach(function (name, i) {
        const li = document.createElement("li");
        li.id = box.id + "-" + i;
        li.setAttribute("role", "option");
        li.textContent = name;
        li.addEventListener("mousedown", function (e) { e.preventDefault(); accept(i); });
        box.append(li);
      });
      active = 0;
      box.hidden = false;
      mark();
    }

    function accept(i) {
      const name = items[i];
      const start = field.selectionStart - typed.length;
      const rest = field.value.slice(field.selectionStart);
      const closing = /^\s*-?\}\}/.test(rest) ? "" : " }}";
      field.value = field.value.slice(0, start) + name + closing + rest;
      const caret = start + name.length + closing.length;
      field.selectionStart = field.selectionEnd = caret;
      close();
      field.dispatchEvent(new Event("input", {bubbles: true}));  // the live preview and the colours
      if (repaint) repaint();
    }

    field.addEventListener("input", open);
    field.addEventListener("click", open);
    field.addEventListener("blur", close);
    field.addEventListener("keydown", function (e) {
      if (box.hidden) return;
      if (e.key === "ArrowDown") { active = (active + 1) % items.length; mark(); e.preventDefault(); }
      else if (e.key === "ArrowUp") { active = (active - 1 + items.length) % items.length; mark(); e.preventDefault(); }
      else if (e.key === "Enter" || e.key === "Tab") { accept(active); e.preventDefault(); }
      else if (e.key === "Escape") { close(); e.preventDefault(); }
    });
  }

  form.querySelectorAll("textarea[name=body_html], textarea[name=body_text]").forEach(function (area) {
    complete(area, highlight(area));
  });
  const subject = form.querySelector("input[name=subject]");
  if (subject) complete(subject, null);
})();
