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
