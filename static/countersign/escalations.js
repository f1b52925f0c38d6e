// The escalation workspace and the case page, live: the workspace socket delivers server-rendered
// case rows (already escaped there, and already the rulebook's answer for this person); this file
// places them, keeps the SLA clocks counting and answers the keys. The case page re-reads its
// panel when its case changes. Text this file writes itself goes through textContent.
(function () {
  "use strict";

  const TICK_MS = 5000;
  const SOCKET = "/ws/escalations/";
  const UNRESOLVED = ["open", "acknowledged"];

  function parse(html) {
    const template = document.createElement("template");
    template.innerHTML = html; // a server-rendered, escaped partial
    return template.content;
  }

  function flash() {
    return document.getElementById("flash");
  }

  function showError(message) {
    const box = flash();
    if (!box) return;
    const notice = document.createElement("div");
    notice.className = "notice notice-error";
    notice.setAttribute("role", "alert");
    const text = document.createElement("span");
    text.textContent = message;
    const close = document.createElement("button");
    close.type = "button";
    close.className = "notice-close";
    close.dataset.dismiss = "";
    close.setAttribute("aria-label", "Dismiss");
    close.textContent = "×";
    notice.append(text, close);
    box.replaceChildren(notice);
  }

  // ---------------------------------------------------------------- clocks

  function span(seconds) {
    const minutes = Math.max(1, Math.round(Math.abs(seconds) / 60));
    if (minutes < 120) return minutes + " min";
    return Math.floor(minutes / 60) + " h " + (minutes % 60) + " min";
  }

  function ago(seconds) {
    if (seconds < 45) return "just now";
    const minutes = Math.round(seconds / 60);
    if (minutes < 60) return minutes + " min ago";
    const hours = Math.floor(minutes / 60);
    if (hours < 24) return hours + " h " + (minutes % 60) + " min ago";
    const days = Math.floor(hours / 24);
    return days + (days === 1 ? " day ago" : " days ago");
  }

  function tick(root) {
    const now = Date.now();
    for (const el of (root || document).querySelectorAll("time[data-sla-due]")) {
      const due = Date.parse(el.dataset.slaDue);
      if (Number.isNaN(due)) continue;
      const seconds = (due - now) / 1000;
      el.textContent = seconds < 0 ? "overdue by " + span(seconds) : "due in " + span(seconds);
      el.classList.toggle("overdue", seconds < 0);
    }
    for (const el of (root || document).querySelectorAll("time[data-age]")) {
      const at = Date.parse(el.getAttribute("datetime"));
      if (!Number.isNaN(at)) el.textContent = ago(Math.max(0, (now - at) / 1000));
    }
  }

  // ---------------------------------------------------------------- keys

  const TYPING = "input, select, textarea, [contenteditable], [contenteditable=''], [contenteditable='true']";

  function toggleHelp(show) {
    const help = document.getElementById("keys-help");
    if (!help) return;
    help.hidden = show === undefined ? !help.hidden : !show;
    if (!help.hidden) help.querySelector("[data-close-help]")?.focus();
  }

  // onKey(key, event) -> true when the page handled it.
  function listenKeys(onKey) {
    document.addEventListener("keydown", function (event) {
      if (event.key === "Escape") {
        toggleHelp(false);
        return;
      }
      // Enter on a reason code sends its form: `r` leads there.
      if (event.key === "Enter" && event.target.matches("form.case-form select")) {
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
      if (onKey(event.key, event)) event.preventDefault();
    });
    document.addEventListener("click", function (event) {
      if (event.target.closest("[data-close-help]")) toggleHelp(false);
      if (event.target.closest("#keys-button")) toggleHelp();
      const button = event.target.closest("[data-dismiss]");
      if (button) button.closest(".notice")?.remove();
    });
  }

  // Refusals come back as 4xx carrying the fresh panel (or the edit form, or #flash) with the
  // service's words: show them instead of dropping them, as htmx 2 does by default.
  document.addEventListener("htmx:beforeSwap", function (event) {
    const status = event.detail.xhr.status;
    if (status >= 400 && status < 500) {
      event.detail.shouldSwap = true;
      event.detail.isError = false;
    }
  });

  document.addEventListener("htmx:sendError", function () {
    showError("Could not reach Countersign. Check the connection and try again.");
  });

  // ================================================================ the workspace

  function startWorkspace() {
    let resyncing = false;
    let resyncAgain = false;
    let buffered = [];
    let lastSeq = {};
    let selectedId = null;

    function lists() {
      return document.getElementById("case-lists");
    }

    function body() {
      return document.getElementById("case-rows");
    }

    function version(row) {
      return parseInt(row.dataset.version || "0", 10);
    }

    function isNewer(incoming, current, orSame) {
      const a = version(incoming), b = version(current);
      if (a !== b) return a > b;
      const ua = Number(incoming.dataset.updated || 0), ub = Number(current.dataset.updated || 0);
      return orSame ? ua >= ub : ua > ub;
    }

    // Whether a row belongs on this page as filtered ("" status: every unresolved case).
    function matches(row) {
      const filters = lists().dataset;
      const status = filters.filterStatus || "";
      if (status === "" && !UNRESOLVED.includes(row.dataset.status)) return false;
      if (status !== "" && status !== "all" && status !== row.dataset.status) return false;
      return !filters.filterTier || filters.filterTier === row.dataset.tier;
    }

    function refreshCount() {
      const n = body() ? body().rows.length : 0;
      const count = document.getElementById("case-count");
      if (count) count.textContent = String(n);
      const empty = document.getElementById("cases-empty");
      if (empty) empty.hidden = n > 0;
    }

    function insertSorted(row) {
      for (const other of body().rows) {
        if (row.dataset.sort < other.dataset.sort) {
          other.before(row);
          return;
        }
      }
      body().append(row);
    }

    // Put a row where a reload would, or take it out when it no longer matches the filters. An
    // older version never replaces a newer one.
    function upsertRow(html, force) {
      const incoming = parse(html).querySelector("tr.case-row");
      if (!incoming || !incoming.id || !body()) return;
      const current = document.getElementById(incoming.id);
      if (current && !isNewer(incoming, current, force)) return;
      if (current) current.remove();
      if (matches(incoming)) {
        insertSorted(incoming);
        htmx.process(incoming);
        tick(incoming);
      }
      if (selectedId === incoming.id) select(document.getElementById(selectedId) ? selectedId : null, false);
      refreshCount();
    }

    function removeRow(caseId) {
      const row = document.getElementById("case-" + caseId);
      if (row) row.remove();
      refreshCount();
    }

    function applyCounts(counts) {
      for (const [tier, n] of Object.entries(counts || {})) {
        for (const item of document.querySelectorAll("#tier-counts li[data-tier]")) {
          if (item.dataset.tier === tier) item.querySelector(".count").textContent = String(n);
        }
      }
    }

    // A push that came without its row: read the row (a 404 says it is no longer ours).
    async function refetchRow(caseId) {
      try {
        const response = await fetch("/escalations/" + caseId + "/row/", {
          headers: { "HX-Request": "true" },
          credentials: "same-origin",
        });
        if (response.ok) upsertRow(await response.text(), true);
        else if (response.status === 404) removeRow(caseId);
      } catch {
        // the next push or resync brings it
      }
    }

    // The database is the truth: after a (re)connect or a missed push, read the list again.
    // Pushes arriving meanwhile are replayed on top of it (by version).
    async function resync() {
      if (!lists()) return;
      if (resyncing) {
        resyncAgain = true;
        return;
      }
      resyncing = true;
      buffered = [];
      try {
        const response = await fetch(lists().dataset.rowsUrl, {
          headers: { "HX-Request": "true" },
          credentials: "same-origin",
        });
        if (response.headers.get("HX-Redirect") || response.status === 403) {
          window.location.reload();
          return;
        }
        if (!response.ok) throw new Error("HTTP " + response.status);
        const fresh = parse(await response.text()).querySelector("#case-lists");
        if (fresh) {
          lists().replaceWith(fresh);
          htmx.process(fresh);
          tick(fresh);
          if (selectedId) select(document.getElementById(selectedId) ? selectedId : null, false);
          refreshCount();
          document.body.dataset.resyncs = String(parseInt(document.body.dataset.resyncs || "0", 10) + 1);
        }
      } catch (error) {
        showError("Could not refresh the cases (" + error.message + "). Reload the page to be sure.");
      } finally {
        resyncing = false;
        const replay = buffered;
        buffered = [];
        replay.forEach((message) => onMessage(message));
        if (resyncAgain) {
          resyncAgain = false;
          resync();
        }
      }
    }

    // True when `seq` shows a push of `group` was lost on the way.
    function gap(group, seq) {
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
      if (!["case.changed", "case.removed", "case.stale"].includes(message.type)) return;
      const lost = gap(message.group, message.seq);
      if (resyncing) buffered.push(message);
      else if (message.type === "case.changed" && message.html) {
        upsertRow(message.html);
        applyCounts(message.counts);
      } else if (message.type === "case.removed") removeRow(message.case_id);
      else if (message.type === "case.stale") refetchRow(message.case_id);
      if (lost) resync();
    }

    // An acknowledge from a row answers with the row, or with the refusal in #flash.
    document.addEventListener("htmx:beforeRequest", function (event) {
      const form = event.detail.elt;
      if (!form.matches || !form.matches("form.case-acknowledge")) return;
      flash().replaceChildren();
      const xhr = event.detail.xhr;
      xhr.addEventListener("loadend", function () {
        if (xhr.status >= 200 && xhr.status < 300 && !xhr.getResponseHeader("HX-Redirect")) {
          upsertRow(xhr.responseText, true);
        } else if (xhr.status >= 500) {
          showError("The server could not record that (HTTP " + xhr.status + "). Try again.");
        } else if (xhr.status === 409) {
          const row = form.closest("tr.case-row");
          if (row) refetchRow(row.id.replace(/^case-/, ""));
        }
      });
    });

    // ------------------------------------------------------------ selection and keys

    function rows() {
      return body() ? Array.from(body().rows) : [];
    }

    function select(id, scroll) {
      for (const row of document.querySelectorAll("tr.case-row.selected")) {
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

    listenKeys(function (key) {
      const row = selectedId && document.getElementById(selectedId);
      switch (key) {
        case "j":
          move(1);
          return true;
        case "k":
          move(-1);
          return true;
        case "a": {
          if (!row) return false;
          const form = row.querySelector("form.case-acknowledge");
          if (form) form.requestSubmit();
          else showError("You cannot acknowledge this case from here.");
          return true;
        }
        case "o":
          if (!row) return false;
          window.location.assign(row.querySelector("a.type").href);
          return true;
        default:
          return false;
      }
    });

    document.addEventListener("click", function (event) {
      const row = event.target.closest("#case-rows tr.case-row");
      if (row && !event.target.closest("a, button, input, select, textarea, summary")) select(row.id, false);
    });

    // Tests close the socket from the page to simulate a dropped connection.
    let live = null;
    window.countersignSocket = function () {
      return live && live.socket();
    };

    tick();
    refreshCount();
    setInterval(tick, TICK_MS);
    live = window.countersignConnect({ path: SOCKET, onOpen: resync, onMessage: onMessage });
  }

  // ================================================================ the case page

  function startCase(root) {
    const caseId = root.dataset.caseId;
    let refreshing = null;
    let refreshAgain = false;

    function page() {
      return document.getElementById("case-page") || root;
    }

    function panel() {
      return document.getElementById("case-panel");
    }

    // Swap in a fresh panel unless it would show the same thing, so a note being typed survives.
    function placePanel(html) {
      const incoming = parse(html).querySelector("#case-panel");
      const current = panel();
      if (!incoming || !current || incoming.dataset.key === current.dataset.key) return;
      current.replaceWith(incoming);
      htmx.process(incoming);
      tick(incoming);
    }

    async function refreshPanel() {
      if (refreshing) {
        refreshAgain = true;
        return refreshing;
      }
      refreshing = (async function () {
        try {
          const response = await fetch(page().dataset.panelUrl, {
            headers: { "HX-Request": "true" },
            credentials: "same-origin",
          });
          if (response.headers.get("HX-Redirect") || response.status === 404) {
            window.location.assign("/escalations/"); // passed to a tier this person does not see
            return;
          }
          if (response.ok) placePanel(await response.text());
        } catch {
          // best effort: the next push or reconnect reads it again
        } finally {
          refreshing = null;
          if (refreshAgain) {
            refreshAgain = false;
            refreshPanel();
          }
        }
      })();
      return refreshing;
    }

    function onMessage(message) {
      if (String(message.case_id) !== caseId) return;
      if (["case.changed", "case.removed", "case.stale"].includes(message.type)) refreshPanel();
    }

    function submit(selector, what) {
      const form = document.querySelector(selector);
      if (!form) {
        showPanelNote("You cannot " + what + " this case now.");
        return;
      }
      form.requestSubmit();
    }

    function showPanelNote(message) {
      const current = panel();
      if (!current) return;
      let note = document.getElementById("key-message");
      if (!note) {
        note = document.createElement("p");
        note.id = "key-message";
        note.className = "notice notice-error";
        note.setAttribute("role", "alert");
        current.querySelector(".action-head")?.after(note);
      }
      note.textContent = message;
    }

    listenKeys(function (key) {
      switch (key) {
        case "a":
          submit("#case-acknowledge", "acknowledge");
          return true;
        case "e": {
          const link = document.getElementById("case-edit-link");
          if (link) link.click();
          else showPanelNote("You cannot approve this case now.");
          return true;
        }
        case "r": {
          const reason = document.querySelector("#case-reject select");
          if (reason) reason.focus();
          else showPanelNote("You cannot reject this case now.");
          return true;
        }
        case "u":
          window.location.assign("/escalations/");
          return true;
        default:
          return false;
      }
    });

    tick();
    setInterval(tick, TICK_MS);
    window.countersignConnect({ path: SOCKET, onOpen: refreshPanel, onMessage: onMessage });
  }

  function start() {
    const caseRoot = document.getElementById("case-page");
    if (caseRoot) startCase(caseRoot);
    else if (document.getElementById("case-lists")) startWorkspace();
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
