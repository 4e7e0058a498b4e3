// HITL web UI: a little plain JavaScript, every page works without it.
// - the inbox refetches its list when the server says something changed (Server-Sent Events);
// - a thread's page shows what its running thread reports (Server-Sent Events);
// - a JSON answer is checked with JSON.parse before it is sent;
// - action cards show the argument and message inputs only for the decision chosen.
(function () {
  "use strict";

  function liveInbox() {
    var region = document.getElementById("inbox-live");
    if (!region || !window.EventSource) return;
    var status = document.getElementById("live-status");
    var pending = null;
    var busy = false;
    var again = false;

    function refresh() {
      if (busy) { again = true; return; }
      busy = true;
      fetch(region.getAttribute("data-live-src"), { headers: { Accept: "text/html" }, cache: "no-store" })
        .then(function (r) { return r.ok ? r.text() : Promise.reject(r.status); })
        .then(function (html) {
          // keep the person's selection for a bulk answer across the refresh
          var checked = Array.prototype.map.call(
            region.querySelectorAll("input[name=ids]:checked"), function (box) { return box.value; });
          region.innerHTML = html;
          checked.forEach(function (id) {
            var box = region.querySelector('input[name=ids][value="' + id + '"]');
            if (box) box.checked = true;
          });
          document.body.setAttribute("data-live-refreshes",
            String(Number(document.body.getAttribute("data-live-refreshes") || "0") + 1));
        })
        .catch(function () { /* the next message or reconnect tries again */ })
        .then(function () {
          busy = false;
          if (again) { again = false; refresh(); }
        });
    }

    var source = new EventSource("/ui/events");
    source.addEventListener("open", function () {
      document.body.setAttribute("data-live", "open");
      if (status) status.textContent = "Live: new requests appear here as they arrive.";
      refresh(); // catch up on anything missed while (re)connecting
    });
    source.addEventListener("error", function () {
      document.body.setAttribute("data-live", "closed");
      if (status) status.textContent = "Live updates paused; reconnecting…";
    });
    source.addEventListener("change", function () {
      clearTimeout(pending);
      pending = setTimeout(refresh, 100);
    });
  }

  // A thread's page: what its running thread reports (its progress stream), and what waits
  // for people re-read from the page itself when a run starts or ends.
  function liveThread() {
    var section = document.querySelector("section[data-progress-src]");
    if (!section || !window.EventSource) return;
    var log = document.getElementById("progress-log");
    var status = document.getElementById("progress-status");
    var region = document.getElementById("thread-live");
    var busy = false;
    var again = false;

    function note(kind, text) {
      var item = document.createElement("li");
      item.setAttribute("data-progress", kind);
      item.textContent = text;
      log.appendChild(item);
      while (log.children.length > 200) log.removeChild(log.firstChild);
    }

    function refresh() {
      if (!region) return;
      if (busy) { again = true; return; }
      busy = true;
      fetch(section.getAttribute("data-page-src"), { headers: { Accept: "text/html" }, cache: "no-store" })
        .then(function (r) { return r.ok ? r.text() : Promise.reject(r.status); })
        .then(function (html) {
          var fresh = new DOMParser().parseFromString(html, "text/html").getElementById("thread-live");
          if (fresh) region.innerHTML = fresh.innerHTML;
        })
        .catch(function () { /* the next run's start or end tries again */ })
        .then(function () {
          busy = false;
          if (again) { again = false; refresh(); }
        });
    }

    function data(event) {
      try { return JSON.parse(event.data); } catch (e) { return {}; }
    }

    function shown(value) {
      return typeof value === "string" ? value : JSON.stringify(value);
    }

    var source = new EventSource(section.getAttribute("data-progress-src"));
    source.addEventListener("open", function () {
      document.body.setAttribute("data-progress", "open");
    });
    source.addEventListener("error", function () {
      document.body.setAttribute("data-progress", "closed");
    });
    source.addEventListener("run", function () {
      status.textContent = "Running.";
      note("run", "Run started");
      refresh();
    });
    source.addEventListener("node", function (event) {
      note("node", "Step done: " + shown(data(event).node));
    });
    source.addEventListener("progress", function (event) {
      note("progress", shown(data(event).data));
    });
    source.addEventListener("end", function (event) {
      var ended = shown(data(event).status);
      status.textContent = "Run " + ended + ".";
      note("end", "Run " + ended);
      refresh();
    });
  }

  function jsonForms() {
    var forms = document.querySelectorAll("form[data-json-form]");
    Array.prototype.forEach.call(forms, function (form) {
      form.addEventListener("submit", function (event) {
        var area = form.querySelector("textarea[data-json]");
        var out = form.querySelector("[data-json-error]");
        if (!area) return;
        try {
          JSON.parse(area.value);
          area.removeAttribute("aria-invalid");
          if (out) out.textContent = "";
        } catch (e) {
          event.preventDefault();
          area.setAttribute("aria-invalid", "true");
          if (out) out.textContent = "Not valid JSON: " + e.message;
          area.focus();
        }
      });
    });
  }

  function actionCards() {
    var cards = document.querySelectorAll("[data-card]");
    Array.prototype.forEach.call(cards, function (card) {
      function update() {
        var chosen = card.querySelector("input[data-decision]:checked");
        var decision = chosen ? chosen.value : "";
        Array.prototype.forEach.call(card.querySelectorAll("[data-show-for]"), function (part) {
          var wanted = part.getAttribute("data-show-for").split(" ");
          part.hidden = wanted.indexOf(decision) < 0;
        });
      }
      card.addEventListener("change", update);
      update();
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    liveInbox();
    liveThread();
    jsonForms();
    actionCards();
  });
})();
