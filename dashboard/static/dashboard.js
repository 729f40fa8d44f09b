// tandem's dashboard: times in the viewer's zone, and pages that follow
// what changes (server-sent events). Every page reads without this script.
(function () {
  "use strict";

  var dateFormat = new Intl.DateTimeFormat(undefined, {
    year: "numeric", month: "short", day: "numeric", hour: "2-digit", minute: "2-digit", second: "2-digit"
  });

  // The server writes times in UTC; show them in the viewer's time zone,
  // and keep UTC for the hover.
  function localTimes(root) {
    root.querySelectorAll("time[datetime]").forEach(function (t) {
      if (t.dataset.local) return;
      var d = new Date(t.getAttribute("datetime"));
      if (isNaN(d.getTime())) return;
      if (!t.title) t.title = t.textContent;
      t.textContent = dateFormat.format(d);
      t.dataset.local = "1";
    });
  }

  // announce tells screen readers what changed without moving focus.
  function announce(text) {
    var a = document.getElementById("announce");
    if (a) a.textContent = text;
  }

  // nodes parses HTML the server rendered (and escaped) into nodes.
  function nodes(html) {
    var t = document.createElement("template");
    t.innerHTML = html.trim();
    return t.content;
  }

  // stopped says so when a stream ends for good; connected marks the
  // element whose stream is open (what changes from now on shows).
  function stopped(es, where) {
    es.addEventListener("open", function () { where.dataset.connected = "1"; });
    es.addEventListener("error", function () {
      if (es.readyState !== EventSource.CLOSED || document.getElementById("stopped")) return;
      var p = document.createElement("p");
      p.id = "stopped";
      p.className = "error";
      p.setAttribute("role", "alert");
      p.textContent = "Live updates stopped (signed out, or the server is away). Reload the page to start them again.";
      where.parentNode.insertBefore(p, where);
    });
  }

  // The previews list: rows change, come and go as previews do.
  function livePreviews(box) {
    var es = new EventSource(box.dataset.live);
    stopped(es, box);
    function row(name) {
      return box.querySelector('tr[data-name="' + CSS.escape(name) + '"]');
    }
    function empties() {
      box.querySelectorAll("tbody[data-repo]").forEach(function (body) {
        body.querySelector("tr.empty").hidden = !!body.querySelector("tr[data-name]");
      });
    }
    es.addEventListener("row", function (ev) {
      var u = JSON.parse(ev.data);
      var tr = nodes(u.html).firstElementChild;
      var old = row(u.name);
      if (old) {
        if (old.dataset.state !== tr.dataset.state) announce(u.name + " is " + tr.dataset.state);
        old.replaceWith(tr);
      } else {
        var body = box.querySelector('tbody[data-repo="' + CSS.escape(u.repo) + '"]');
        if (!body) return;
        var next = Array.prototype.find.call(body.querySelectorAll("tr[data-name]"), function (r) { return r.dataset.name > u.name; });
        body.insertBefore(tr, next || body.querySelector("tr.empty"));
        announce(u.name + " is " + tr.dataset.state);
      }
      tr.classList.add("changed");
      localTimes(tr);
      empties();
    });
    es.addEventListener("gone", function (ev) {
      var old = row(JSON.parse(ev.data).name);
      if (old) {
        old.remove();
        announce(old.dataset.name + " is gone");
      }
      empties();
    });
    es.addEventListener("names", function (ev) {
      var names = JSON.parse(ev.data);
      box.querySelectorAll("tr[data-name]").forEach(function (tr) {
        if (names.indexOf(tr.dataset.name) < 0) tr.remove();
      });
      empties();
    });
  }

  // A preview's page: its summary, services and timeline follow it.
  function livePreview(box) {
    var es = new EventSource(box.dataset.live);
    stopped(es, box);
    var timeline = document.getElementById("timeline");
    es.addEventListener("item", function (ev) {
      var li = nodes(ev.data).firstElementChild;
      timeline.appendChild(li);
      localTimes(li);
    });
    es.addEventListener("summary", function (ev) {
      var summary = document.getElementById("summary");
      var was = summary.querySelector("#state").textContent;
      summary.innerHTML = ev.data;
      localTimes(summary);
      var now = summary.querySelector("#state").textContent;
      if (now !== was) announce(box.dataset.name + " is " + now);
    });
    es.addEventListener("services", function (ev) {
      var services = document.getElementById("services");
      services.innerHTML = ev.data;
      localTimes(services);
    });
    es.addEventListener("gone", function () {
      es.close();
      var state = document.getElementById("state");
      if (state) {
        state.textContent = "destroyed";
        state.className = "badge big off";
      }
      announce(box.dataset.name + " is destroyed");
    });
  }

  // A service's output: new lines as they come, a search that filters
  // them as it is typed, and following the end unless told not to.
  function liveLog(log) {
    var q = document.getElementById("log-q");
    var follow = document.getElementById("follow");
    var count = document.getElementById("log-count");
    var note = document.getElementById("log-note");
    var keep = 5000;

    function show(li) {
      var text = li.dataset.text;
      var s = q.value.trim().toLowerCase();
      var at = s ? text.toLowerCase().indexOf(s) : 0;
      li.hidden = at < 0;
      li.textContent = "";
      if (!s || at < 0) {
        li.textContent = text;
        return;
      }
      var mark = document.createElement("mark");
      mark.textContent = text.substr(at, s.length);
      li.append(text.substr(0, at), mark, text.substr(at + s.length));
    }
    function counted() {
      var shown = log.querySelectorAll("li:not([hidden])").length;
      count.textContent = shown + " lines" + (q.value.trim() ? " containing “" + q.value.trim() + "”" : "") + ".";
    }
    function end() {
      if (follow.checked) log.scrollTop = log.scrollHeight;
    }
    log.querySelectorAll("li").forEach(function (li) { li.dataset.text = li.textContent; });

    var es = new EventSource(log.dataset.live);
    stopped(es, log);
    es.addEventListener("reset", function () { log.textContent = ""; });
    es.addEventListener("note", function (ev) {
      if (!note) {
        note = document.createElement("p");
        note.id = "log-note";
        note.className = "notice";
        log.parentNode.insertBefore(note, log);
      }
      note.textContent = ev.data;
    });
    es.addEventListener("line", function (ev) {
      if (note) {
        note.remove();
        note = null;
      }
      var li = document.createElement("li");
      li.dataset.text = ev.data;
      show(li);
      log.appendChild(li);
      while (log.children.length > keep) log.firstElementChild.remove();
      counted();
      end();
    });

    document.getElementById("log-search").addEventListener("submit", function (ev) { ev.preventDefault(); });
    q.addEventListener("input", function () {
      log.querySelectorAll("li").forEach(show);
      counted();
      var u = new URL(location.href);
      if (q.value.trim()) u.searchParams.set("q", q.value.trim()); else u.searchParams.delete("q");
      history.replaceState(null, "", u);
    });
    follow.addEventListener("change", end);
    end();
  }

  // Secrets shown once get a copy button.
  function copyButtons(root) {
    root.querySelectorAll("input.secret").forEach(function (input) {
      if (!navigator.clipboard) return;
      var b = document.createElement("button");
      b.type = "button";
      b.textContent = "Copy";
      b.addEventListener("click", function () {
        navigator.clipboard.writeText(input.value).then(function () { announce("Copied"); b.textContent = "Copied"; });
      });
      input.insertAdjacentElement("afterend", b);
    });
  }

  function start() {
    localTimes(document);
    copyButtons(document);
    if (!window.EventSource) return;
    var list = document.getElementById("previews");
    if (list && list.dataset.live) livePreviews(list);
    var page = document.getElementById("live");
    if (page && page.dataset.live) livePreview(page);
    var log = document.getElementById("log");
    if (log && log.dataset.live) liveLog(log);
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
