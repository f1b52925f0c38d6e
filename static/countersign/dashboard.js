// The live queue: a websocket delivers server-rendered rows; this file only places them.
//
// Rows always come from the server (the page, a decision's answer, a push or a resync) and are
// already escaped there. Text this file writes itself goes through textContent.
//
// A row is the same for every viewer; what depends on who looks (you approved, you lack the role,
// you operate the requesting agent, you hold the claim) is looked up here from the row's data
// attributes and the rulebook's answers about the viewer, which the page carries in
// #viewer-grants. This file keeps no role or status rule of its own; the server refuses what a
// person may not do.
(function () {
  "use strict";

  const RECENT_LIMIT = 50;
  const TICK_MS = 5000;

  const me = document.body.dataset.userId || "";
  const grantsNode = document.getElementById("viewer-grants");
  const grants = grantsNode ? JSON.parse(grantsNode.textContent) : {};
  const AWAITING = grants.awaiting || [];
  const ESCALATES = grants.escalates || [];
  const decidesFor = grants.decides_for || [];
  const ownAgents = (grants.own_agents || []).map(String);
  const OWN_REQUEST_NOTE = "You operate the agent that asked for it: someone else decides.";
  const defaultQueue = document.body.dataset.defaultQueue || "General";
  let live = null;
  let resyncing = false;
  let resyncAgain = false;
  let buffered = [];
  let bufferedBanner = null;
  // The last sequence number seen per channel-layer group; a jump means a push was lost.
  let lastSeq = {};
  let selectedId = null;

  // ---------------------------------------------------------------- flash

  function flash() {
    return document.getElementById("flash");
  }

  function showError(message) {
    const box = document.createElement("div");
    box.className = "notice notice-error";
    box.setAttribute("role", "alert");
    const text = document.createElement("span");
    text.textContent = message;
    const close = document.createElement("button");
    close.type = "button";
    close.className = "notice-close";
    close.dataset.dismiss = "";
    close.setAttribute("aria-label", "Dismiss");
    close.textContent = "×";
    box.append(text, close);
    flash().replaceChildren(box);
  }

  document.addEventListener("click", function (event) {
    const button = event.target.closest("[data-dismiss]");
    if (button) button.closest(".notice")?.remove();
  });

  // ---------------------------------------------------------------- rows

  function parse(html) {
    const template = document.createElement("template");
    template.innerHTML = html; // a server-rendered, escaped partial
    return template.content;
  }

  function version(row) {
    return parseInt(row.dataset.version || "0", 10);
  }

  // Claims change a row without changing its version: the update time orders those.
  function isNewer(incoming, current, orSame) {
    const a = version(incoming), b = version(current);
    if (a !== b) return a > b;
    const ua = Number(incoming.dataset.updated || 0), ub = Number(current.dataset.updated || 0);
    return orSame ? ua >= ub : ua > ub;
  }

  // What this viewer may do with a row, from its data attributes (see the top of this file).
  function applyViewer(row) {
    if (row.dataset.approverRole === undefined) return; // not waiting for a person
    const approved = (row.dataset.approvedBy || "").split(" ").includes(me);
    const mayDecide = Boolean(grants.decides_any) || decidesFor.includes(row.dataset.approverRole);
    const own = ownAgents.includes(row.dataset.agent || "");
    row.dataset.viewer = approved ? "approved" : !mayDecide ? "no-role" : own ? "own-request" : "may-decide";
    // Who may decide a row may escalate it from the statuses the rulebook names.
    if (ESCALATES.includes(row.dataset.status)) row.dataset.mayEscalate = "";
    else delete row.dataset.mayEscalate;
    // One note says why the controls are hidden; the rulebook's refusal of one's own request
    // needs no markup of its own in every row.
    const note = row.querySelector(".role-note");
    if (note && row.dataset.viewer === "own-request") note.textContent = OWN_REQUEST_NOTE;
    applyClaim(row, Date.now());
  }

  function applyClaim(row, now) {
    const holder = row.dataset.claimedBy;
    const expires = Date.parse(row.dataset.claimExpires || "");
    const live = Boolean(holder) && !Number.isNaN(expires) && expires > now;
    row.dataset.claim = !live ? "none" : holder === me ? "mine" : "other";
    const label = row.querySelector("[data-claim-label]");
    if (!label) return;
    label.hidden = !live;
    label.textContent =
      row.dataset.claim === "mine" ? "You are reviewing" : "Being reviewed by " + label.dataset.holderName;
  }

  function span(seconds) {
    const minutes = Math.max(1, Math.round(Math.abs(seconds) / 60));
    if (minutes < 120) return minutes + " min";
    return Math.floor(minutes / 60) + " h " + (minutes % 60) + " min";
  }

  function updateSla(root) {
    const now = Date.now();
    for (const el of (root || document).querySelectorAll("time[data-sla-due]")) {
      const due = Date.parse(el.dataset.slaDue);
      if (Number.isNaN(due)) continue;
      const seconds = (due - now) / 1000;
      const overdue = seconds < 0;
      el.textContent = overdue ? "overdue by " + span(seconds) : "due in " + span(seconds);
      el.closest("tr.action-row")?.classList.toggle("overdue", overdue);
    }
  }

  function tick() {
    const now = Date.now();
    updateAges();
    updateSla();
    for (const row of document.querySelectorAll("tr.action-row[data-claimed-by]")) applyClaim(row, now);
  }

  function prepare(root) {
    const rows = root.matches && root.matches("tr.action-row") ? [root] : root.querySelectorAll("tr.action-row");
    for (const row of rows) applyViewer(row);
    updateAges(root);
    updateSla(root);
  }

  function refreshCounts() {
    for (const name of ["pending", "recent"]) {
      const body = document.getElementById(name + "-rows");
      if (!body) continue;
      const n = body.rows.length;
      const count = document.getElementById(name + "-count");
      const empty = document.getElementById(name + "-empty");
      if (count) count.textContent = String(n);
      if (empty) empty.hidden = n > 0;
    }
    updateBatchCount();
  }

  function trimRecent() {
    const body = document.getElementById("recent-rows");
    while (body && body.rows.length > RECENT_LIMIT) body.deleteRow(-1);
  }

  // The page's sort order, as a comparable key: SLA due then id, or priority first.
  function sortKey(row, sort) {
    const due = Date.parse(row.dataset.slaDue || "") || 0;
    const key = [due, row.id];
    return sort === "priority" ? [-parseInt(row.dataset.priority || "0", 10), ...key] : key;
  }

  function before(a, b) {
    for (let i = 0; i < a.length; i++) {
      if (a[i] < b[i]) return true;
      if (a[i] > b[i]) return false;
    }
    return false;
  }

  function insertSorted(body, row) {
    const key = sortKey(row, body.dataset.sort);
    for (const other of body.rows) {
      if (before(key, sortKey(other, body.dataset.sort))) {
        other.before(row);
        return;
      }
    }
    body.append(row);
  }

  // Put a row where its status says: actions waiting for a person in the queue (in the page's
  // sort order; a new one only on an unfiltered first page, since it may not match the filters),
  // everything else at the top of Recent. An older version never replaces a newer one.
  // A push or a resync re-renders rows under the reviewer's hands: the reason code they picked, the
  // note they typed and the field they were in carry over to the fresh row (by row, form, name).
  const FIELDS = "tr.action-row form select[name], tr.action-row form input[name]:not([type=hidden]):not([type=checkbox]), tr.action-row form textarea[name]";

  function saveFields(root) {
    const saved = [];
    for (const field of root.querySelectorAll(FIELDS)) {
      const focused = field === document.activeElement;
      const changed = field.tagName === "SELECT" ? !field.options[field.selectedIndex]?.defaultSelected : field.value !== field.defaultValue;
      if (!focused && !changed) continue;
      const row = field.closest("tr.action-row");
      saved.push({ row: row.id, form: field.form.className, name: field.name, value: field.value, focused: focused });
    }
    return saved;
  }

  function restoreFields(saved) {
    for (const entry of saved) {
      const row = document.getElementById(entry.row);
      const form = row && Array.from(row.querySelectorAll("form")).find((f) => f.className === entry.form);
      const field = form && form.elements.namedItem(entry.name);
      if (!field || field.type === "hidden") continue;
      if (field.tagName !== "SELECT" || Array.from(field.options).some((o) => o.value === entry.value)) {
        field.value = entry.value;
      }
      if (entry.focused) field.focus();
    }
  }

  function upsertRow(html, force) {
    const incoming = parse(html).querySelector("tr.action-row");
    if (!incoming || !incoming.id) return;
    const current = document.getElementById(incoming.id);
    if (current && !isNewer(incoming, current, force)) return;
    const waiting = AWAITING.includes(incoming.dataset.status);
    const body = document.getElementById(waiting ? "pending-rows" : "recent-rows");
    if (!body) return;
    const wasSelected = current && current.id === selectedId;
    const nextId = wasSelected && current.nextElementSibling ? current.nextElementSibling.id : null;
    const fields = current ? saveFields(current) : [];
    if (current && current.parentElement === body) {
      const pick = current.querySelector(".batch-pick");
      current.replaceWith(incoming);
      const twin = incoming.querySelector(".batch-pick");
      if (pick && twin) twin.checked = pick.checked;
    } else {
      if (current) current.remove();
      if (waiting && !("liveInsert" in body.dataset)) return refreshCounts();
      if (waiting) insertSorted(body, incoming);
      else body.prepend(incoming);
    }
    htmx.process(incoming);
    prepare(incoming);
    if (waiting) restoreFields(fields); // a decided row's forms are gone: nothing to carry
    if (wasSelected) select(incoming.parentElement === body && waiting ? incoming.id : nextId, false);
    trimRecent();
    refreshCounts();
  }

  // A pending count per queue, moved by each push (+1 into pending, -1 out of it); a resync
  // reads them again, so any drift is short-lived.
  function applyCountDelta(message) {
    const from = message.previous_status === "pending" ? message.previous_queue || message.queue || defaultQueue : null;
    const to = message.status === "pending" ? message.queue || defaultQueue : null;
    if (from === to) return;
    if (from) bumpCount(from, -1);
    if (to) bumpCount(to, 1);
  }

  function bumpCount(name, delta) {
    for (const item of document.querySelectorAll("#queue-counts li[data-queue]")) {
      if (item.dataset.queue !== name || item.hasAttribute("data-capped")) continue; // "10000+" stays
      const count = item.querySelector(".count");
      count.textContent = String(Math.max(0, parseInt(count.textContent || "0", 10) + delta));
    }
  }

  // An edit routed the action to a queue this person does not work: it leaves their page.
  function removeRow(message) {
    const row = document.getElementById("action-" + message.action_id);
    if (row) row.remove();
    applyCountDelta({ previous_status: message.previous_status, previous_queue: message.previous_queue, status: "" });
    refreshCounts();
  }

  // ---------------------------------------------------------------- breaker banner

  // The banner of tripped breakers comes whole from the server, like rows. A reason being typed
  // into a reset form survives a push that re-renders the banner around it.
  function replaceBanner(html) {
    const incoming = parse(html).querySelector("#breaker-banner");
    const current = document.getElementById("breaker-banner");
    if (!incoming || !current) return;
    for (const input of current.querySelectorAll(".notice-breaker input[name=reason]")) {
      const notice = input.closest(".notice-breaker");
      const twin = incoming.querySelector("#" + notice.id + " input[name=reason]");
      if (twin && input.value) twin.value = input.value;
    }
    current.replaceWith(incoming);
    htmx.process(incoming);
    updateAges(incoming);
  }

  // ---------------------------------------------------------------- ages

  function ago(seconds) {
    if (seconds < 45) return "just now";
    const minutes = Math.round(seconds / 60);
    if (minutes < 60) return minutes + " min ago";
    const hours = Math.floor(minutes / 60);
    if (hours < 24) return hours + " h " + (minutes % 60) + " min ago";
    const days = Math.floor(hours / 24);
    return days + (days === 1 ? " day ago" : " days ago");
  }

  function updateAges(root) {
    const now = Date.now();
    for (const el of (root || document).querySelectorAll("time[data-age]")) {
      const at = Date.parse(el.getAttribute("datetime"));
      if (!Number.isNaN(at)) el.textContent = ago(Math.max(0, (now - at) / 1000));
    }
  }

  // ---------------------------------------------------------------- resync

  // The database is the truth and pushes are best effort: after a reconnect, read the lists again.
  // Pushes that arrive while the list is in flight are replayed on top of it (by version).
  async function resync() {
    const lists = document.getElementById("queue-lists");
    if (!lists) return;
    if (resyncing) {
      resyncAgain = true;
      return;
    }
    resyncing = true;
    buffered = [];
    try {
      const response = await fetch(lists.dataset.queueRowsUrl, {
        headers: { "HX-Request": "true" },
        credentials: "same-origin",
      });
      if (response.headers.get("HX-Redirect") || response.status === 403) {
        window.location.reload();
        return;
      }
      if (!response.ok) throw new Error("HTTP " + response.status);
      const fresh = parse(await response.text()).querySelector("#queue-lists");
      if (fresh) {
        const picked = new Set(Array.from(document.querySelectorAll(".batch-pick:checked"), (b) => b.value));
        const fields = saveFields(document.getElementById("queue-lists"));
        document.getElementById("queue-lists").replaceWith(fresh);
        for (const box of fresh.querySelectorAll(".batch-pick")) box.checked = picked.has(box.value);
        htmx.process(fresh);
        prepare(fresh);
        restoreFields(fields);
        if (selectedId) select(document.getElementById(selectedId) ? selectedId : null, false);
        refreshCounts();
        document.body.dataset.resyncs = String(parseInt(document.body.dataset.resyncs || "0", 10) + 1);
      }
    } catch (error) {
      showError("Could not refresh the queue (" + error.message + "). Reload the page to be sure.");
    } finally {
      resyncing = false;
      const replay = buffered;
      buffered = [];
      replay.forEach((html) => upsertRow(html));
      if (bufferedBanner !== null) replaceBanner(bufferedBanner);
      bufferedBanner = null;
      if (resyncAgain) {
        resyncAgain = false;
        resync();
      }
    }
  }

  // ---------------------------------------------------------------- websocket

  // Returns true when `seq` shows that a push of `group` was lost on the way.
  function seen(group, seq) {
    if (!group || typeof seq !== "number") return false;
    const last = lastSeq[group];
    if (last === undefined || seq > last) lastSeq[group] = seq;
    return last !== undefined && seq > last + 1;
  }

  function onMessage(message) {
    if (message.type === "hello") {
      lastSeq = Object.assign({}, message.seqs || {});
      return;
    }
    if (message.type === "skip") {
      if (seen(message.group, message.seq)) resync();
      return;
    }
    if (message.type === "breaker.changed" && typeof message.html === "string") {
      if (resyncing) bufferedBanner = message.html;
      else replaceBanner(message.html);
      return;
    }
    if (message.type === "action.removed") {
      const gap = seen(message.group, message.seq);
      if (!resyncing) removeRow(message);
      if (gap || resyncing) resync();
      return;
    }
    if (message.type !== "action.changed" || !message.html) return;
    const gap = seen(message.group, message.seq);
    if (resyncing) buffered.push(message.html);
    else {
      applyCountDelta(message);
      upsertRow(message.html);
    }
    if (gap) resync();
  }

  // Tests close the socket from the page to simulate a dropped connection.
  window.countersignSocket = function () {
    return live && live.socket();
  };

  // ---------------------------------------------------------------- decisions (htmx)

  // Refusals come back as 4xx with HX-Retarget: #flash; htmx 2 does not swap 4xx by default.
  document.addEventListener("htmx:beforeSwap", function (event) {
    const xhr = event.detail.xhr;
    if (xhr.status >= 400 && xhr.status < 500 && xhr.getResponseHeader("HX-Retarget")) {
      event.detail.shouldSwap = true;
      event.detail.isError = false;
    }
  });

  const ROW_FORMS = "form.decide, form.claim-form, form.release-form";

  // After a refusal because the row changed (stale version, someone's claim), show the fresh row.
  async function refetchRow(id) {
    try {
      const response = await fetch("/actions/" + id + "/row/", {
        headers: { "HX-Request": "true" },
        credentials: "same-origin",
      });
      if (response.ok) upsertRow(await response.text(), true);
    } catch {
      // the flash already says what happened; the next push or resync brings the row
    }
  }

  // A row form's answer is handled on its request, not by events bubbling from the form: a push
  // may have replaced the row (and detached the form) before the answer comes back, and events of
  // a detached form never reach the document, nor does htmx swap their answer into #flash.
  function onRowAnswer(xhr, form, id) {
    const attached = document.body.contains(form);
    if (xhr.status >= 200 && xhr.status < 300 && !xhr.getResponseHeader("HX-Redirect")) {
      upsertRow(xhr.responseText, true);
    } else if (xhr.status >= 500) {
      showError("The server could not record that decision (HTTP " + xhr.status + "). Try again.");
    } else if (xhr.status >= 400 && xhr.getResponseHeader("HX-Retarget")) {
      if (!attached) flash().replaceChildren(parse(xhr.responseText));
      if (xhr.status === 409) refetchRow(id);
    } else if (xhr.status >= 400) {
      showError("That decision was refused (HTTP " + xhr.status + "). Reload the page and try again.");
    }
  }

  // Clear the last refusal when a decision is sent, not when it succeeds.
  document.addEventListener("htmx:beforeRequest", function (event) {
    const form = event.detail.elt;
    if (!form.matches) return;
    if (form.matches(ROW_FORMS + ", form.breaker-reset, #batch-form")) flash().replaceChildren();
    if (form.matches(ROW_FORMS)) {
      const xhr = event.detail.xhr;
      const id = form.closest("tr.action-row").id.replace(/^action-/, "");
      xhr.addEventListener("loadend", () => onRowAnswer(xhr, form, id));
      // htmx cannot retarget the answer of a detached form (#flash is not in its tree): skip it.
      form.addEventListener(
        "htmx:beforeOnLoad",
        function (loaded) {
          if (!document.body.contains(form)) loaded.preventDefault();
        },
        { once: true },
      );
    }
  });

  document.addEventListener("htmx:afterRequest", function (event) {
    const form = event.detail.elt;
    if (form.matches && form.matches("#batch-form")) resync();
  });

  document.addEventListener("htmx:sendError", function () {
    showError("Could not reach Countersign. Check the connection and try again.");
  });

  // ---------------------------------------------------------------- batch

  function updateBatchCount() {
    const n = document.querySelectorAll(".batch-pick:checked").length;
    const label = document.getElementById("batch-count");
    if (label) label.textContent = n + " selected";
  }

  function eligiblePicks() {
    return Array.from(document.querySelectorAll("#pending-rows .batch-pick")).filter(function (box) {
      const row = box.closest("tr.action-row");
      return row.dataset.viewer === "may-decide" && row.dataset.claim !== "other";
    });
  }

  document.addEventListener("change", function (event) {
    if (event.target.id === "batch-all") {
      for (const box of eligiblePicks()) box.checked = event.target.checked;
    }
    if (event.target.matches(".batch-pick, #batch-all")) updateBatchCount();
  });

  // ---------------------------------------------------------------- keyboard

  function rows() {
    const body = document.getElementById("pending-rows");
    return body ? Array.from(body.rows) : [];
  }

  function select(id, scroll) {
    for (const row of document.querySelectorAll("tr.action-row.selected")) {
      row.classList.remove("selected");
      row.removeAttribute("aria-selected");
    }
    selectedId = id;
    const row = id && document.getElementById(id);
    if (!row) {
      selectedId = null;
      return;
    }
    row.classList.add("selected");
    row.setAttribute("aria-selected", "true");
    if (scroll !== false) row.scrollIntoView({ block: "nearest" });
  }

  function move(step) {
    const list = rows();
    if (!list.length) return;
    const at = list.findIndex((row) => row.id === selectedId);
    const next = at === -1 ? (step > 0 ? 0 : list.length - 1) : Math.min(list.length - 1, Math.max(0, at + step));
    select(list[next].id);
  }

  function submit(row, selector, what) {
    const form = row.querySelector(selector);
    if (!form || form.offsetParent === null) {
      showError("You cannot " + what + " this action from here.");
      return;
    }
    form.requestSubmit();
  }

  function toggleHelp(show) {
    const help = document.getElementById("keys-help");
    if (!help) return;
    help.hidden = show === undefined ? !help.hidden : !show;
    if (!help.hidden) help.querySelector("[data-close-help]")?.focus();
  }

  const TYPING = "input, select, textarea, [contenteditable], [contenteditable=''], [contenteditable='true']";

  document.addEventListener("keydown", function (event) {
    if (event.key === "Escape") {
      toggleHelp(false);
      return;
    }
    // Enter on a row's reason code sends its form: `r` leads here.
    if (event.key === "Enter" && event.target.matches("form.decide select")) {
      event.preventDefault();
      event.target.form.requestSubmit();
      return;
    }
    if (event.ctrlKey || event.metaKey || event.altKey || event.isComposing) return;
    if (event.target.closest && event.target.closest(TYPING)) return;
    if (event.key === "?") {
      event.preventDefault();
      toggleHelp();
      return;
    }
    if (event.shiftKey) return;
    const row = selectedId && document.getElementById(selectedId);
    switch (event.key) {
      case "j":
        move(1);
        break;
      case "k":
        move(-1);
        break;
      case "a":
        if (row) submit(row, "form.decide-approve, form.decide-adopt", "approve");
        break;
      case "r": {
        const reason = row && row.querySelector("form.decide-reject select, form.decide-dismiss select");
        if (reason && reason.offsetParent !== null) reason.focus();
        else if (row) showError("You cannot reject this action from here.");
        break;
      }
      case "e":
        if (row) window.location.assign("/actions/" + row.id.replace(/^action-/, "") + "/?edit=1");
        break;
      case "c":
        if (row) submit(row, row.dataset.claim === "mine" ? "form.release-form" : "form.claim-form", "claim");
        break;
      case "x": {
        const box = row && row.querySelector(".batch-pick");
        if (box) {
          box.checked = !box.checked;
          updateBatchCount();
        }
        break;
      }
      default:
        return;
    }
    event.preventDefault();
  });

  document.addEventListener("click", function (event) {
    if (event.target.closest("[data-close-help]")) toggleHelp(false);
    if (event.target.closest("#keys-button")) toggleHelp();
    const row = event.target.closest("#pending-rows tr.action-row");
    if (row && !event.target.closest("a, button, input, select, textarea, summary")) select(row.id, false);
  });

  // ---------------------------------------------------------------- start

  function start() {
    prepare(document);
    refreshCounts();
    setInterval(tick, TICK_MS);
    live = window.countersignConnect({ onOpen: resync, onMessage: onMessage });
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
