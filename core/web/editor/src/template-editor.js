/* The template editor's code fields: CodeMirror 6 over the plain fields.

   Progressive enhancement: the page's <textarea>s and the subject <input>
   stay in the form and are what is submitted; this script hides them behind
   an editor and writes every change back into them (and fires "input" on
   them, so admin.js's live check and preview follow). Without JavaScript
   they are plain fields and everything saves as before.

   - Typing "{{ mie" offers the event's placeholders that start with it, then
     those that contain it ("mieter.name" ..., then "vermieter.name"), taken
     from the placeholder list beside the editor that admin.js keeps in step
     with the chosen event and language. Enter or Tab accept (" }}" is added
     when missing), Escape closes.
   - The bodies are highlighted as Jinja over HTML (@codemirror/lang-jinja);
     each {{ placeholder }}, {% tag %} and {# comment #} is also marked as a
     whole, so the parts the mail fills in stand out.

   Built by scripts/build-editor into core/web/static/vendor/ (one file, no
   CDN, no inline script or eval: CSP script-src 'self'). */
import {EditorState, Prec, Transaction} from "@codemirror/state";
import {
  EditorView, keymap, drawSelection, highlightSpecialChars, placeholder as emptyText,
  ViewPlugin, MatchDecorator, Decoration,
} from "@codemirror/view";
import {defaultKeymap, history, historyKeymap, indentWithTab} from "@codemirror/commands";
import {autocompletion, completionKeymap, acceptCompletion} from "@codemirror/autocomplete";
import {syntaxHighlighting, HighlightStyle} from "@codemirror/language";
import {jinja} from "@codemirror/lang-jinja";
import {tags as t} from "@lezer/highlight";

const form = document.getElementById("template-form");
const list = document.getElementById("placeholders");

function names() {
  if (!list) return [];
  return Array.from(list.querySelectorAll(".chip"), (chip) => chip.textContent.trim());
}

// --- completion ---------------------------------------------------------------------------
const OPEN = /\{\{-?\s*[A-Za-z_][\w.]*$|\{\{-?\s*$/;

function placeholders(context) {
  const before = context.matchBefore(OPEN);
  if (!before) return null;
  const typed = /[A-Za-z_][\w.]*$/.exec(before.text);
  const word = typed ? typed[0] : "";
  const from = context.pos - word.length;
  const lower = word.toLowerCase();
  const all = names();
  // Those that start with what was typed first, then those that contain it.
  const starting = all.filter((n) => n.toLowerCase().startsWith(lower));
  const containing = lower ? all.filter((n) => !n.toLowerCase().startsWith(lower) && n.toLowerCase().includes(lower)) : [];
  const options = starting.concat(containing);
  if (options.length === 0 || (options.length === 1 && options[0] === word)) return null;
  return {
    from,
    filter: false,  // our own order; CodeMirror would sort by its fuzzy score
    options: options.map((name) => ({
      label: name,
      type: "variable",
      apply(view, completion, start, end) {
        const rest = view.state.sliceDoc(end, Math.min(end + 20, view.state.doc.length));
        const closing = /^\s*-?\}\}/.test(rest) ? "" : " }}";
        const insert = name + closing;
        view.dispatch({
          changes: {from: start, to: end, insert},
          selection: {anchor: start + insert.length},
          userEvent: "input.complete",
        });
      },
    })),
  };
}

// --- highlighting -------------------------------------------------------------------------
const style = HighlightStyle.define([
  {tag: [t.brace], color: "#8a4b08", fontWeight: "600"},
  {tag: [t.variableName, t.propertyName, t.derefOperator], color: "#8a4b08"},
  {tag: [t.keyword, t.controlKeyword, t.definitionKeyword, t.operatorKeyword, t.logicOperator], color: "#6d28d9"},
  {tag: [t.blockComment, t.comment], color: "#6b7280", fontStyle: "italic"},
  {tag: [t.string], color: "#166534"},
  {tag: [t.number, t.bool], color: "#1d4ed8"},
  {tag: [t.tagName, t.angleBracket], color: "#1d4ed8"},
  {tag: [t.attributeName], color: "#7c2d12"},
  {tag: [t.attributeValue], color: "#166534"},
]);

// The whole of each Jinja expression, as one mark (a background, and a hook for tests).
const KINDS = {"{{": "cm-jinja-var", "{%": "cm-jinja-tag", "{#": "cm-jinja-comment"};
const wholes = new MatchDecorator({
  regexp: /\{\{[\s\S]*?\}\}|\{%[\s\S]*?%\}|\{#[\s\S]*?#\}/g,
  decoration: (match) => Decoration.mark({class: KINDS[match[0].slice(0, 2)]}),
});
const marks = ViewPlugin.define((view) => ({
  decorations: wholes.createDeco(view),
  update(update) { this.decorations = wholes.updateDeco(update, this.decorations); },
}), {decorations: (plugin) => plugin.decorations});

// --- the fields ---------------------------------------------------------------------------
function enhance(field, multiline) {
  const host = document.createElement("div");
  host.className = "code-editor" + (multiline ? "" : " code-editor-line");
  if (multiline) host.style.setProperty("--rows", String(field.rows || 8));
  field.after(host);
  // The label's own words (the label also holds the field, its hint and errors).
  const label = field.labels && field.labels[0];
  const words = label && label.firstChild && label.firstChild.nodeType === Node.TEXT_NODE ? label.firstChild.textContent.trim() : field.name;
  const extensions = [
    history(),
    drawSelection(),
    highlightSpecialChars(),
    autocompletion({override: [placeholders], icons: false, defaultKeymap: true}),
    keymap.of([{key: "Tab", run: acceptCompletion}, ...completionKeymap, ...defaultKeymap, ...historyKeymap]),
    marks,
    EditorView.contentAttributes.of({
      "aria-label": words,
      spellcheck: "false",
    }),
    EditorView.updateListener.of((update) => {
      if (!update.docChanged) return;
      field.value = update.state.doc.toString();
      field.dispatchEvent(new Event("input", {bubbles: true}));
    }),
    EditorView.domEventHandlers({
      // admin.js inserts a chosen placeholder into the field that had focus last.
      focus() { field.dispatchEvent(new Event("focus")); },
    }),
  ];
  if (field.placeholder) extensions.push(emptyText(field.placeholder));
  if (multiline) {
    extensions.push(EditorView.lineWrapping, jinja(), syntaxHighlighting(style), keymap.of([indentWithTab]));
  } else {
    // One line: a pasted or typed line break becomes a space; Enter saves as in a plain field.
    extensions.push(
      EditorState.transactionFilter.of((tr) => {
        if (!tr.docChanged || tr.newDoc.lines === 1) return tr;
        const text = tr.newDoc.toString().replace(/\r?\n/g, " ");
        return [tr, {changes: {from: 0, to: tr.newDoc.length, insert: text}, sequential: true}];
      }),
      // Before the default keymap's new line; an open completion list still takes Enter first.
      Prec.high(keymap.of([{key: "Enter", run() { form.requestSubmit(form.querySelector("button[type=submit]")); return true; }}])),
      syntaxHighlighting(style),
    );
  }
  const view = new EditorView({doc: field.value, extensions, parent: host});
  field.hidden = true;
  field.classList.add("code-source");
  // For admin.js: insert at the caret, as if typed.
  field.codeEditor = {
    insert(text) {
      const range = view.state.selection.main;
      view.dispatch({
        changes: {from: range.from, to: range.to, insert: text},
        selection: {anchor: range.from + text.length},
        annotations: Transaction.userEvent.of("input.paste"),
      });
      view.focus();
    },
  };
  // A click on the label's words focuses the editor, as it would the field.
  if (label) label.addEventListener("click", (e) => { if (!host.contains(e.target)) view.focus(); });
  return view;
}

if (form) {
  form.querySelectorAll("textarea[name=body_html], textarea[name=body_text]").forEach((area) => enhance(area, true));
  const subject = form.querySelector("input[name=subject]");
  if (subject) enhance(subject, false);
}
