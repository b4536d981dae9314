// The dashboard's only script: it adds to pages that work without it.
"use strict";
(function () {
  // Times are shown in the browser's zone: tell the server which one it is.
  try {
    var tz = Intl.DateTimeFormat().resolvedOptions().timeZone;
    if (tz && document.cookie.indexOf("sd_tz=" + encodeURIComponent(tz)) < 0) {
      document.cookie = "sd_tz=" + encodeURIComponent(tz) + "; path=/; max-age=31536000; samesite=strict";
      if (!sessionStorage.getItem("sd_tz_reloaded")) { sessionStorage.setItem("sd_tz_reloaded", "1"); location.reload(); }
    }
  } catch (e) { /* keep the server's zone */ }

  // Live progress of runs on a source's page, and a reload when a run ends.
  var boxes = document.querySelectorAll("[data-progress]");
  var running = document.querySelectorAll("[data-running]");
  if ((boxes.length || running.length) && window.EventSource) {
    var names = {};
    boxes.forEach(function (b) { names[b.dataset.progress] = b; });
    running.forEach(function (b) { names[b.dataset.running] = names[b.dataset.running] || b; });
    var stream = new EventSource("/events");
    stream.onmessage = function (msg) {
      var ev = JSON.parse(msg.data);
      var box = names[ev.source];
      if (!box) return;
      if (ev.type === "run.started") box.textContent = "Running…";
      else if (ev.type === "run.progress") {
        box.textContent = "Running: " + ev.records.toLocaleString() + " records" + (ev.total ? " (" + ev.done + " of " + ev.total + ")" : "") + (ev.message ? " · " + ev.message : "");
      } else if (ev.type === "run.finished") {
        box.textContent = "Finished: " + ev.status + ", " + ev.new.toLocaleString() + " new, " + ev.changed.toLocaleString() + " changed.";
        stream.close();
        setTimeout(function () { location.reload(); }, 800);
      }
    };
  }

  // The way to a vendor's consent page: followed at once (the page also works by clicking it).
  var follow = document.querySelector("[data-follow]");
  if (follow) location.assign(follow.href);

  // Files dropped on an import box are sent as if chosen.
  document.querySelectorAll("[data-drop]").forEach(function (form) {
    var input = form.querySelector("input[type=file]");
    ["dragenter", "dragover"].forEach(function (n) { form.addEventListener(n, function (e) { e.preventDefault(); form.classList.add("over"); }); });
    ["dragleave", "drop"].forEach(function (n) { form.addEventListener(n, function () { form.classList.remove("over"); }); });
    form.addEventListener("drop", function (e) {
      e.preventDefault();
      if (e.dataTransfer && e.dataTransfer.files.length) { input.files = e.dataTransfer.files; form.submit(); }
    });
  });
})();
