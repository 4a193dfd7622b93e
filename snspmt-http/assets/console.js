// snspmt console: the little behaviour the pages need beyond htmx. No inline script anywhere
// (the Content-Security-Policy forbids it); everything hangs off data- attributes.
(function () {
  "use strict";

  // <form data-confirm="…">: ask before money moves.
  document.addEventListener("submit", function (e) {
    var form = e.target;
    var question = form.getAttribute("data-confirm");
    if (question && !window.confirm(question)) {
      e.preventDefault();
    }
  }, true);

  // <dialog data-popup="key">: notices shown once per browser session, closable.
  function popups() {
    document.querySelectorAll("dialog[data-popup]").forEach(function (d) {
      var key = "snspmt-popup-" + d.getAttribute("data-popup");
      if (!sessionStorage.getItem(key) && typeof d.showModal === "function") {
        d.showModal();
      }
      d.querySelectorAll("[data-close]").forEach(function (b) {
        b.addEventListener("click", function () {
          sessionStorage.setItem(key, "1");
          d.close();
        });
      });
    });
  }

  // <form data-autosubmit>: a hand-off form (the payment window) that goes on by itself.
  function autosubmit() {
    document.querySelectorAll("form[data-autosubmit]").forEach(function (f) { f.submit(); });
  }

  // <select data-show-for="name"> shows the elements whose data-when lists the chosen value.
  function toggles() {
    document.querySelectorAll("[data-toggle-group]").forEach(function (sel) {
      var group = sel.getAttribute("data-toggle-group");
      function apply() {
        document.querySelectorAll("[data-when-" + group + "]").forEach(function (el) {
          var values = el.getAttribute("data-when-" + group).split(" ");
          el.hidden = values.indexOf(sel.value) < 0;
        });
      }
      sel.addEventListener("change", apply);
      apply();
    });
  }

  // <button data-pick="select-id:value …">: a click chooses those values in those selects
  // (the order page's catalogue fills the form), as if the visitor had.
  document.addEventListener("click", function (e) {
    var el = e.target.closest ? e.target.closest("[data-pick]") : null;
    if (!el) { return; }
    e.preventDefault();
    el.getAttribute("data-pick").split(" ").forEach(function (pair) {
      var at = pair.indexOf(":");
      var sel = document.getElementById(pair.slice(0, at));
      if (sel) {
        sel.value = pair.slice(at + 1);
        sel.dispatchEvent(new Event("change", { bubbles: true }));
      }
    });
  });

  // <a data-social-login>: the provider's window is a pop-up; the API's hand-off page in it
  // posts the new session back here (same origin only), and the hidden form signs us in.
  function socialLogin() {
    var link = document.querySelector("a[data-social-login]");
    var form = document.getElementById("social-session");
    if (!link || !form) { return; }
    link.addEventListener("click", function (e) {
      e.preventDefault();
      window.open(link.href, "social-login", "width=520,height=680");
    });
    window.addEventListener("message", function (e) {
      if (e.origin !== window.location.origin || !e.data || typeof e.data.token !== "string") { return; }
      form.querySelector("input[name=token]").value = e.data.token;
      form.submit();
    });
  }

  function ready() { popups(); toggles(); autosubmit(); socialLogin(); }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", ready);
  } else {
    ready();
  }
})();
