// Dispatcher page: calls the JSON API with the token saved at login (sessionStorage).
(function () {
  "use strict";
  var actions = document.getElementById("actions");
  if (!actions) return;
  var week = actions.dataset.week;
  var planId = actions.dataset.plan;
  var progress = document.getElementById("progress");

  // The page's language: the template hands over this script's strings from the catalogue
  // (api.i18n.js_messages); _() looks them up, fmt() fills %(name)s placeholders.
  var messagesNode = document.getElementById("vanplan-messages");
  var messages = messagesNode ? JSON.parse(messagesNode.textContent) : {};
  function _(text) {
    return messages[text] || text;
  }
  function fmt(text, values) {
    return text.replace(/%\((\w+)\)s/g, function (m, key) { return String(values[key]); });
  }

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
          var error = new Error((data.message || resp.statusText) + (details.length ? " (" + details.join("; ") + ")" : ""));
          error.code = data.code;
          error.status = resp.status;
          throw error;
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

  // Plan / re-plan as a job: the server answers at once with a job; its progress (share of the
  // time limit, solutions found, best cost) is polled until it ends, then the new version opens.
  var run = document.getElementById("run-plan");
  var bar = document.getElementById("plan-progress");
  var stopButton = document.getElementById("stop-plan");
  var currentJob = null;

  function showJob(job) {
    var pct = Math.round(job.progress * 100);
    bar.hidden = false;
    bar.value = job.progress;
    bar.textContent = pct + " %";
    var parts = [job.status === "queued" ? _("Waiting for a free solver…") : fmt(_("Planning… %(pct)s"), { pct: pct + " %" })];
    if (job.solutions) {
      parts.push(fmt(job.solutions === 1 ? _("%(n)s solution") : _("%(n)s solutions"), { n: job.solutions }));
    }
    if (job.best_cost !== null && job.best_cost !== undefined) {
      parts.push(fmt(_("best cost %(cost)s"), { cost: job.best_cost.toFixed(2) }));
    }
    progress.className = "busy";
    progress.textContent = parts.join(" · ");
  }

  function endJob() {
    currentJob = null;
    bar.hidden = true;
    stopButton.hidden = true;
    stopButton.disabled = false;
  }

  function poll(jobId) {
    api("GET", "/v1/jobs/" + jobId)
      .then(function (job) {
        if (!job.status || ["succeeded", "cancelled", "failed"].indexOf(job.status) < 0) {
          showJob(job);
          setTimeout(function () { poll(jobId); }, 500);
          return;
        }
        endJob();
        if (job.plan_id) {
          progress.className = "";
          progress.textContent = job.status === "cancelled" ? _("Stopped: best plan kept") : _("Planned");
          window.location = "/dispatcher?week=" + week + "&plan=" + job.plan_id;
          return;
        }
        run.disabled = false;
        fail(new Error(fmt(_("Planning %(status)s"), { status: job.status }) + (job.error ? ": " + job.error : "")));
      })
      .catch(function (err) { endJob(); run.disabled = false; fail(err); });
  }

  if (run) {
    run.addEventListener("click", function () {
      run.disabled = true;
      progress.className = "busy";
      progress.textContent = _("Starting…");
      var allowMoving = document.getElementById("allow-moving");
      var body = planId && allowMoving && allowMoving.checked ? { allow_moving_confirmed: true } : {};
      api("POST", "/v1/weeks/" + week + (planId ? "/replan" : "/plan") + "/jobs", body)
        .then(function (job) {
          currentJob = job.id;
          stopButton.hidden = false;
          showJob(job);
          poll(job.id);
        })
        .catch(function (err) { run.disabled = false; fail(err); });
    });
    stopButton.addEventListener("click", function () {
      if (!currentJob) return;
      stopButton.disabled = true;
      api("DELETE", "/v1/jobs/" + currentJob).catch(fail);
    });
  }

  // Publish: when the draft changes published visits (moved, other time, dropped; the changes
  // table above lists them), the page asks first and then publishes with accept_changes=true.
  // A 409 confirmation_required (the published version changed meanwhile) asks as well.
  var publish = document.getElementById("publish");
  var confirmBox = document.getElementById("publish-confirm");
  function sendPublish(accept) {
    publish.disabled = true;
    var done = busy(_("Publishing…"));
    api("POST", "/v1/plans/" + planId + "/publish" + (accept ? "?accept_changes=true" : ""))
      .then(function () { done(); window.location.reload(); })
      .catch(function (err) {
        done();
        publish.disabled = false;
        if (err.code === "confirmation_required" && confirmBox) {
          progress.className = "";
          progress.textContent = "";
          askToPublish();
          return;
        }
        fail(err);
      });
  }
  function askToPublish() {
    confirmBox.hidden = false;
    publish.hidden = true;
    document.getElementById("publish-confirm-yes").focus();
  }
  if (publish) {
    publish.addEventListener("click", function () {
      if (confirmBox && Number(publish.dataset.publishedChanged || "0") > 0) {
        askToPublish();
        return;
      }
      sendPublish(false);
    });
  }
  if (confirmBox) {
    document.getElementById("publish-confirm-yes").addEventListener("click", function () {
      confirmBox.hidden = true;
      publish.hidden = false;
      sendPublish(true);
    });
    document.getElementById("publish-confirm-no").addEventListener("click", function () {
      confirmBox.hidden = true;
      publish.hidden = false;
      progress.className = "";
      progress.textContent = _("Not published");
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
            b.textContent = on ? _("Unpin") : _("Pin");
          });
          button.disabled = false;
          progress.className = "";
          progress.textContent = fmt(_("%(n)s visit(s) pinned"), { n: confirmed.length });
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
            ? fmt(_("%(visit)s pinned to %(target)s; re-plan to apply"), {
              visit: visit.id,
              target: [visit.pinned_van_id, visit.pinned_date].filter(Boolean).join(" · ")
            })
            : fmt(_("%(visit)s unpinned; re-plan to apply"), { visit: visit.id });
        })
        .catch(function (err) { select.value = previous; select.disabled = false; fail(err); });
    });
  });

  // A suggested fix "pin to a van-day" applied: the visit's pin select is set to that van-day
  // and stored as if chosen by hand (the next plan or re-plan honours it).
  Array.prototype.forEach.call(document.querySelectorAll("button.apply-fix"), function (button) {
    button.addEventListener("click", function () {
      var row = button.closest("tr");
      var select = row && row.querySelector("select.pin-to");
      if (!select) return;
      var option = Array.prototype.find.call(select.options, function (o) { return o.value === button.dataset.target; });
      if (!option) return;
      select.value = button.dataset.target;
      select.dispatchEvent(new Event("change"));
      button.disabled = true;
    });
  });
})();
