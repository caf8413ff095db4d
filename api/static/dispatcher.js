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

  // A refused request in the page's language: the error body's stable `code` and the details'
  // `reason` codes map to catalogue texts; the API's `message` is English (and stays the
  // technical detail). Unknown codes get a general text naming the HTTP status.
  var CODES = {
    validation_error: _("The input was refused."),
    conflict: _("The change conflicts with the stored data; reload the page."),
    confirmation_required: _("Publishing changes published visits; confirm first."),
    not_found: _("Not found; it may have been deleted meanwhile. Reload the page."),
    unauthorized: _("Your login is no longer valid; please log in again."),
    forbidden: _("Your role may not do this."),
    too_many_solves: _("Every solver is busy; please try again in a moment."),
    job_has_no_plan: _("The planning run has no plan."),
    payload_too_large: _("The request is too large."),
    internal_error: _("Server error; please try again later.")
  };
  var REASONS = {
    pin_lacks_skill: _("the van lacks a skill the visit needs"),
    pin_outside_windows: _("the day lies outside all the visit's time windows"),
    pin_no_shift: _("the van has no shift on that day"),
    pin_no_skilled_shift: _("no van with the needed skills has a shift on that day"),
    pin_too_long: _("the visit is longer than the shifts on that day"),
    pin_no_window_in_shift: _("no time window of the visit fits into a shift on that day")
  };
  function explain(code, details, status) {
    var reasons = [];
    details.forEach(function (d) {
      var text = d.reason && REASONS[d.reason];
      if (text && reasons.indexOf(text) < 0) reasons.push(text);
    });
    if (reasons.length) return reasons.join("; ");
    return CODES[code] || fmt(_("The request was refused (HTTP %(status)s)."), { status: status });
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
          // The page's own words for the answer (explain()); the API's English text stays
          // available as the error's technical detail (shown as the message's tooltip).
          var details = (data.details || []).map(function (d) { return d.field + ": " + d.message; });
          var error = new Error(explain(data.code, data.details || [], resp.status));
          error.technical = (data.message || resp.statusText) + (details.length ? " (" + details.join("; ") + ")" : "");
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
    progress.title = "";
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
    progress.title = err.technical || "";
  }
  // The same, naming what failed: what is one of the catalogue texts with %(error)s.
  function failAs(what, err) {
    var named = new Error(fmt(what, { error: err.message }));
    named.technical = err.technical;
    fail(named);
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
        // The job's error is the service's English text: the technical detail, not the message.
        var failed = new Error(job.status === "failed" ? _("Planning failed.") : fmt(_("Planning %(status)s"), { status: job.status }));
        failed.technical = job.error || "";
        fail(failed);
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
        .catch(function (err) { run.disabled = false; failAs(_("Planning not started: %(error)s"), err); });
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
        failAs(_("Not published: %(error)s"), err);
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
        .catch(function (err) { button.disabled = false; failAs(_("Pin not saved: %(error)s"), err); });
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
        .catch(function (err) {
          select.value = previous;
          select.disabled = false;
          failAs(_("Pin not saved: %(error)s"), err);
        });
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
