// Raftwire UI: the little script the pages use. Everything works without it; with it the
// stack-mode selector shows only the CIDR fields its mode needs, and removals ask first.
"use strict";
document.addEventListener("DOMContentLoaded", function () {
  document.querySelectorAll("select[data-stack-mode]").forEach(function (select) {
    var form = select.form;
    function apply() {
      var mode = select.value;
      [["ipv4", mode !== "ipv6"], ["ipv6", mode !== "ipv4"]].forEach(function (f) {
        form.querySelectorAll(".cidr-" + f[0]).forEach(function (box) {
          box.hidden = !f[1];
          // A hidden field is not sent: the API gets only the CIDRs of the mode.
          box.querySelectorAll("input").forEach(function (i) { i.disabled = !f[1]; });
        });
      });
    }
    select.addEventListener("change", apply);
    apply();
  });
  // The dashboard reloads itself now and then (without script: the browser's reload).
  var live = document.querySelector("[data-refresh]");
  if (live) {
    setTimeout(function () { window.location.reload(); }, 1000 * Number(live.getAttribute("data-refresh")));
  }
  document.querySelectorAll("[data-confirm]").forEach(function (b) {
    b.addEventListener("click", function (e) {
      var box = b.form && b.form.querySelector("input[name=confirm]");
      if (!window.confirm(b.getAttribute("data-confirm"))) { e.preventDefault(); return; }
      if (box) { box.checked = true; }
    });
  });
});
