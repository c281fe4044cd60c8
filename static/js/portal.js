// Progressive enhancement only: every page works without this file.
(function () {
  "use strict";

  function csrfToken() {
    var holder = document.getElementById("csrf");
    return holder ? holder.getAttribute("data-token") : "";
  }

  function focusErrorSummary() {
    var summary = document.querySelector(".error-summary");
    if (summary) {
      summary.focus();
    }
  }

  // Every htmx request carries the CSRF token; the holder sits inside <body>, so it is
  // replaced, with the token that goes with the new page, on every boosted navigation.
  document.addEventListener("htmx:config:request", function (event) {
    var token = csrfToken();
    if (token && event.detail && event.detail.ctx) {
      event.detail.ctx.request.headers["X-CSRF-Token"] = token;
    }
  });

  // After a boosted navigation, move focus as a full page load would: to an error summary if
  // there is one, otherwise to the main content, so screen readers announce the new page.
  document.addEventListener("htmx:after:swap", function (event) {
    var ctx = event.detail && event.detail.ctx;
    if (ctx && ctx.target === document.body) {
      if (document.querySelector(".error-summary")) {
        focusErrorSummary();
      } else {
        var main = document.getElementById("main");
        if (main) {
          main.focus({ preventScroll: false });
        }
      }
    }
  });

  document.addEventListener("DOMContentLoaded", focusErrorSummary);
})();
