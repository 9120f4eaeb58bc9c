// wxflow console: small conveniences only; every page works without it.
(function () {
  "use strict";
  // Keep the simulator's chat scrolled to the newest line.
  var chat = document.getElementById("chat");
  if (chat) chat.scrollTop = chat.scrollHeight;
  // Disable a form's buttons once it is sent, so a double click does
  // not play an action twice.
  document.addEventListener("submit", function (e) {
    var form = e.target;
    if (form.method.toLowerCase() !== "post") return;
    setTimeout(function () {
      form.querySelectorAll("button").forEach(function (b) { b.disabled = true; });
    }, 0);
  });
})();
