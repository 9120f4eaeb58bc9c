// wxflow console: small conveniences only; every page works without it.
(function () {
  "use strict";
  // Keep the simulator's chat scrolled to the newest line.
  var chat = document.getElementById("chat");
  if (chat) chat.scrollTop = chat.scrollHeight;
  // Disable a form's buttons once it is sent, so a double click does
  // not play an action twice.
  // An error page's Back goes back where the operator came from (without
  // JavaScript, to the console's start page); the console's CSP forbids
  // javascript: links.
  document.addEventListener("click", function (e) {
    var a = e.target.closest && e.target.closest("a[data-back]");
    if (a && window.history.length > 1) {
      e.preventDefault();
      window.history.back();
    }
  });
  document.addEventListener("submit", function (e) {
    var form = e.target;
    if (form.method.toLowerCase() !== "post") return;
    setTimeout(function () {
      form.querySelectorAll("button").forEach(function (b) { b.disabled = true; });
    }, 0);
  });
})();
// Live pages (the inbox, a conversation, the simulator): the elements
// with data-live are refreshed from the page's own URL whenever the
// server says something changed (server-sent events from /inbox/live);
// on the nodes page, every few seconds.
// What is typed in the reply box stays: it is not in a live element.
(function () {
  "use strict";
  // The conversation's Close or Open, as its live status says (another
  // operator may have closed or opened it since the page was drawn).
  function applyConvStatus() {
    var st = document.getElementById("conv-status"), close = document.getElementById("close"), open = document.getElementById("open");
    if (!st || !close || !open) return;
    var isOpen = st.textContent.trim() === "open";
    close.hidden = !isOpen;
    open.hidden = isOpen;
  }
  function applyReplyState() {
    var st = document.getElementById("reply-state"), form = document.getElementById("reply");
    if (!st || !form) return;
    var ok = st.getAttribute("data-can-reply") === "1";
    form.querySelectorAll("textarea, input[type=file], button").forEach(function (e) { e.disabled = !ok; });
    // What the box and the button say follows too: a box opened again
    // said "no reply can go", one closed since invited a reply.
    var box = form.querySelector("textarea"), send = form.querySelector("button");
    if (box) box.placeholder = st.getAttribute("data-placeholder") || "";
    if (send) {
      if (ok) send.removeAttribute("title");
      else send.title = st.getAttribute("data-why") || "";
    }
  }
  function scrollDown() {
    ["chat", "transcript"].forEach(function (id) {
      var el = document.getElementById(id);
      if (el) el.scrollTop = el.scrollHeight;
    });
  }
  scrollDown();
  // Only the pages with live parts listen (the header's clock follows them).
  if (!document.querySelector("main [data-live]") || !window.EventSource || !window.fetch) return;
  var busy = false, again = false;
  function refresh() {
    if (busy) { again = true; return; }
    busy = true;
    fetch(location.href, {credentials: "same-origin", headers: {"Accept": "text/html"}}).then(function (r) {
      // 503: the nodes page saying the database cannot be read.
      if (!r.ok && r.status !== 503) throw new Error("HTTP " + r.status);
      return r.text();
    }).then(function (html) {
      var doc = new DOMParser().parseFromString(html, "text/html");
      // Another login in this browser (another tab logged in again, or
      // as someone else): the page's forms carry the old login's CSRF
      // token and its header the old name. Read the whole page again.
      var mine = document.querySelector("input[name=csrf]"), theirs = doc.querySelector("input[name=csrf]");
      if (mine && theirs && mine.value !== theirs.value) {
        location.reload();
        return;
      }
      document.querySelectorAll("[data-live]").forEach(function (el) {
        var fresh = el.id && doc.getElementById(el.id);
        if (!fresh) return;
        for (var i = 0; i < fresh.attributes.length; i++) {
          var a = fresh.attributes[i];
          if (el.getAttribute(a.name) !== a.value) el.setAttribute(a.name, a.value);
        }
        if (fresh.innerHTML !== el.innerHTML) el.innerHTML = fresh.innerHTML;
      });
      applyReplyState();
      applyConvStatus();
      scrollDown();
      document.body.setAttribute("data-live-updates", String(+(document.body.getAttribute("data-live-updates") || 0) + 1));
    }).catch(function () { /* the next change tries again */ }).then(function () {
      busy = false;
      if (again) { again = false; refresh(); }
    });
  }
  // A page that changes without the server saying so (the nodes: their
  // leases) reads itself again every data-refresh seconds instead.
  var timed = document.querySelector("main [data-refresh]");
  if (timed) {
    setInterval(refresh, 1000 * (+timed.getAttribute("data-refresh") || 5));
    document.body.setAttribute("data-live", "on");
    return;
  }
  // since: what the page was read after; the stream says "changed" at
  // once when a change came before it opened.
  function listen() {
    var es = new EventSource("/inbox/live?since=" + encodeURIComponent(document.body.getAttribute("data-since") || ""));
    es.addEventListener("changed", refresh);
    es.addEventListener("open", function () { document.body.setAttribute("data-live", "on"); });
    es.addEventListener("error", function () {
      // A dropped connection is tried again by the browser itself; a
      // stream refused (the login ended: logged out, expired, or the
      // token changed, and the stream's URL led to the login page) is
      // not. The page is then not live: when it leads to the login page
      // too, go there (it leads back here); otherwise listen again in a
      // moment (the database may be unreachable for a while).
      if (es.readyState !== EventSource.CLOSED) return;
      document.body.setAttribute("data-live", "off");
      fetch(location.href, {credentials: "same-origin", headers: {"Accept": "text/html"}}).then(function (r) {
        if (r.redirected && new URL(r.url).pathname === "/login") {
          location.assign(r.url);
          return;
        }
        setTimeout(listen, 5000);
      }, function () { setTimeout(listen, 5000); });
    });
  }
  listen();
})();
