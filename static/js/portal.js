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

  // After an inline check, say the field's new message (or that it is now right) in the polite
  // live region of base.html: the person has usually moved on to the next field.
  document.addEventListener("htmx:after:swap", function (event) {
    var ctx = event.detail && event.detail.ctx;
    var target = ctx && ctx.target;
    var announcer = document.getElementById("live-announcer");
    if (!announcer || !target || !target.id || target.id.indexOf("field-") !== 0) {
      return;
    }
    var field = document.getElementById(target.id);
    var error = field && field.querySelector(".field-error");
    var text = error ? error.textContent.replace(/\s+/g, " ").trim() : "";
    if (announcer.textContent !== text) {
      announcer.textContent = text;
    }
  });

  document.addEventListener("DOMContentLoaded", focusErrorSummary);
})();
