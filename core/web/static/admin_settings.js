/* SMTP settings: show only the login fields of the chosen method, let the
   port follow the security choice, and show a preset's note on choosing it.
   Without JavaScript every field is visible and "Apply preset" works. */
(function () {
  "use strict";
  const form = document.getElementById("smtp-settings");
  if (!form) return;
  const auth = form.elements.auth, security = form.elements.security, port = form.elements.port;
  const ports = {none: 25, starttls: 587, starttls_optional: 587, ssl: 465};

  function showLogin() {
    form.querySelectorAll("[data-auth]").forEach(function (el) {
      el.hidden = el.dataset.auth.split(" ").indexOf(auth.value) < 0;
    });
  }
  auth.addEventListener("change", showLogin);
  showLogin();

  let previous = security.value;
  security.addEventListener("change", function () {
    // Only a port the admin did not choose follows: empty, or the old usual one.
    if (!port.value || Number(port.value) === ports[previous]) port.value = ports[security.value];
    port.placeholder = ports[security.value];
    previous = security.value;
  });

  const popSecurity = form.elements.pop3_security, popPort = form.elements.pop3_port;
  const popPorts = {ssl: 995, starttls: 110, none: 110};
  let popPrevious = popSecurity.value;
  popSecurity.addEventListener("change", function () {
    if (!popPort.value || Number(popPort.value) === popPorts[popPrevious]) popPort.value = popPorts[popSecurity.value];
    popPrevious = popSecurity.value;
  });

  const preset = form.elements.preset, note = document.getElementById("preset-note");
  preset.addEventListener("change", function () {
    if (!preset.value) { note.textContent = ""; return; }
    fetch(form.dataset.presetsUrl).then(function (r) { return r.json(); }).then(function (all) {
      const chosen = all.find(function (p) { return p.key === preset.value; });
      if (chosen) note.textContent = chosen.note + (chosen.username_hint ? " — " + chosen.username_hint : "");
    });
  });
})();

/* After a save: try the connection with the saved settings and show the answer
   next to the form. The save itself never waits for the mail server. */
(function () {
  "use strict";
  const box = document.getElementById("after-save-check");
  const check = document.getElementById("check-connection");
  if (!box || !check) return;
  box.textContent = box.dataset.checking;
  const data = new FormData(check);
  fetch(box.dataset.url, {method: "POST", body: data, credentials: "same-origin"})
    .then(function (r) { return r.json(); })
    .then(function (answer) {
      box.className = "flash " + (answer.ok ? "success" : "error");
      box.textContent = "";
      const strong = document.createElement("strong");
      strong.textContent = answer.title || "";
      const code = document.createElement("code");
      code.textContent = answer.words || "";
      box.append(strong, " ", code);
      if (answer.hint) {
        const hint = document.createElement("p");
        hint.className = "hint";
        hint.textContent = answer.hint;
        box.append(hint);
      }
    })
    .catch(function () { box.textContent = ""; box.hidden = true; });
})();
