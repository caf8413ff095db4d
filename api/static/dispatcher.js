// Dispatcher page: calls the JSON API with the token saved at login (sessionStorage).
(function () {
  "use strict";
  var actions = document.getElementById("actions");
  if (!actions) return;
  var week = actions.dataset.week;
  var planId = actions.dataset.plan;
  var progress = document.getElementById("progress");

  function token() {
    return sessionStorage.getItem("vanplanToken") || "";
  }

  function api(method, path, body) {
    var opts = { method: method, headers: { Authorization: "Bearer " + token() } };
    if (body !== undefined) {
      opts.headers["Content-Type"] = "application/json";
      opts.body = JSON.stringify(body);
    }
    return fetch(path, opts).then(function (resp) {
      return resp.json().catch(function () { return {}; }).then(function (data) {
        if (!resp.ok) {
          var details = (data.details || []).map(function (d) { return d.field + ": " + d.message; });
          throw new Error((data.message || resp.statusText) + (details.length ? " (" + details.join("; ") + ")" : ""));
        }
        return data;
      });
    });
  }

  function busy(text) {
    var started = Date.now();
    progress.className = "busy";
    progress.textContent = text;
    var timer = setInterval(function () {
      progress.textContent = text + " " + Math.round((Date.now() - started) / 1000) + " s";
    }, 500);
    return function () { clearInterval(timer); progress.className = ""; };
  }

  function fail(err) {
    progress.className = "error";
    progress.textContent = err.message;
  }

  var run = document.getElementById("run-plan");
  if (run) {
    run.addEventListener("click", function () {
      run.disabled = true;
      var done = busy("Planning…");
      api("POST", "/v1/weeks/" + week + (planId ? "/replan" : "/plan"), {})
        .then(function (version) {
          done();
          window.location = "/dispatcher?week=" + week + "&plan=" + version.id;
        })
        .catch(function (err) { done(); run.disabled = false; fail(err); });
    });
  }

  var publish = document.getElementById("publish");
  if (publish) {
    publish.addEventListener("click", function () {
      publish.disabled = true;
      var done = busy("Publishing…");
      api("POST", "/v1/plans/" + planId + "/publish")
        .then(function () { done(); window.location.reload(); })
        .catch(function (err) { done(); publish.disabled = false; fail(err); });
    });
  }

  // Pin/unpin: the plan's confirmed visits, kept on their van and day by a re-plan.
  var pins = document.querySelectorAll("button.pin");
  Array.prototype.forEach.call(pins, function (button) {
    button.addEventListener("click", function () {
      var ids = [];
      Array.prototype.forEach.call(pins, function (b) {
        var on = b.dataset.pinned === "yes";
        if (b === button) on = !on;
        if (on) ids.push(b.dataset.visit);
      });
      button.disabled = true;
      api("PUT", "/v1/plans/" + planId + "/confirmed", { visit_ids: ids })
        .then(function (version) {
          var confirmed = version.confirmed || [];
          Array.prototype.forEach.call(pins, function (b) {
            var on = confirmed.indexOf(b.dataset.visit) >= 0;
            b.dataset.pinned = on ? "yes" : "no";
            b.textContent = on ? "Unpin" : "Pin";
          });
          button.disabled = false;
          progress.className = "";
          progress.textContent = confirmed.length + " visit(s) pinned";
        })
        .catch(function (err) { button.disabled = false; fail(err); });
    });
  });

  // Pin to a van-day: stored on the visit (PATCH /v1/visits/{id}); the next plan or re-plan of
  // the week keeps the visit on that van and day. "not pinned" clears the pin.
  Array.prototype.forEach.call(document.querySelectorAll("select.pin-to"), function (select) {
    var previous = select.value;
    select.addEventListener("change", function () {
      var parts = select.value ? select.value.split("|") : ["", ""];
      select.disabled = true;
      api("PATCH", "/v1/visits/" + encodeURIComponent(select.dataset.visit), {
        pinned_van_id: parts[0] || null,
        pinned_date: parts[1] || null
      })
        .then(function (visit) {
          select.disabled = false;
          previous = select.value;
          progress.className = "";
          progress.textContent = visit.pinned_van_id || visit.pinned_date
            ? visit.id + " pinned to " + [visit.pinned_van_id, visit.pinned_date].filter(Boolean).join(" · ") + "; re-plan to apply"
            : visit.id + " unpinned; re-plan to apply";
        })
        .catch(function (err) { select.value = previous; select.disabled = false; fail(err); });
    });
  });
})();
