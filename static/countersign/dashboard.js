// The live queue: a websocket delivers server-rendered rows; this file only places them.
//
// Rows always come from the server (the page, a decision's answer, a push or a resync) and are
// already escaped there. Text this file writes itself goes through textContent.
(function () {
  "use strict";

  const RECENT_LIMIT = 50;
  const PING_MS = 25000;
  const MAX_BACKOFF_MS = 30000;

  const status = document.getElementById("live-status");
  let socket = null;
  let attempt = 0;
  let pingTimer = null;
  let resyncing = false;
  let buffered = [];
  let bufferedBanner = null;

  // ---------------------------------------------------------------- connection indicator

  const LABELS = { connecting: "Connecting…", live: "Live", reconnecting: "Reconnecting…" };

  function setState(state) {
    if (!status) return;
    status.dataset.state = state;
    status.textContent = LABELS[state] || state;
  }

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

  function refreshCounts() {
    for (const name of ["pending", "proposed", "recent"]) {
      const body = document.getElementById(name + "-rows");
      if (!body) continue;
      const n = body.rows.length;
      const count = document.getElementById(name + "-count");
      const empty = document.getElementById(name + "-empty");
      if (count) count.textContent = String(n);
      if (empty) empty.hidden = n > 0;
    }
  }

  function trimRecent() {
    const body = document.getElementById("recent-rows");
    while (body && body.rows.length > RECENT_LIMIT) body.deleteRow(-1);
  }

  // Where each status is listed; anything not named here goes to Recent.
  const SECTIONS = { pending: "pending-rows", recommended: "proposed-rows", drafted: "proposed-rows" };

  // Put a row where its status says: pending rows in the queue and recommendations and drafts
  // in theirs (oldest first, so new ones go last), everything else at the top of Recent. An
  // older version never replaces a newer one.
  function upsertRow(html) {
    const incoming = parse(html).querySelector("tr.action-row");
    if (!incoming || !incoming.id) return;
    const current = document.getElementById(incoming.id);
    if (current && version(current) >= version(incoming)) return;
    const waiting = Object.hasOwn(SECTIONS, incoming.dataset.status);
    const body = document.getElementById(waiting ? SECTIONS[incoming.dataset.status] : "recent-rows");
    if (!body) return;
    if (current && current.parentElement === body) {
      current.replaceWith(incoming);
    } else {
      if (current) current.remove();
      if (waiting) body.append(incoming);
      else body.prepend(incoming);
    }
    htmx.process(incoming);
    updateAges(incoming);
    trimRecent();
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
    if (!lists || resyncing) return;
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
        document.getElementById("queue-lists").replaceWith(fresh);
        htmx.process(fresh);
        updateAges(fresh);
        refreshCounts();
      }
    } catch (error) {
      showError("Could not refresh the queue (" + error.message + "). Reload the page to be sure.");
    } finally {
      resyncing = false;
      const replay = buffered;
      buffered = [];
      replay.forEach(upsertRow);
      if (bufferedBanner !== null) replaceBanner(bufferedBanner);
      bufferedBanner = null;
    }
  }

  // ---------------------------------------------------------------- websocket

  function onMessage(event) {
    let message;
    try {
      message = JSON.parse(event.data);
    } catch {
      return;
    }
    if (message.type === "breaker.changed" && typeof message.html === "string") {
      if (resyncing) bufferedBanner = message.html;
      else replaceBanner(message.html);
      return;
    }
    if (message.type !== "action.changed" || !message.html) return;
    if (resyncing) buffered.push(message.html);
    else upsertRow(message.html);
  }

  function connect() {
    const scheme = window.location.protocol === "https:" ? "wss://" : "ws://";
    socket = new WebSocket(scheme + window.location.host + "/ws/dashboard/");
    socket.addEventListener("open", function () {
      attempt = 0;
      setState("live");
      // Resync on every open, the first too: whatever changed between rendering the page and
      // joining the group was never pushed to this tab.
      resync();
      clearInterval(pingTimer);
      pingTimer = setInterval(function () {
        if (socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify({ type: "ping" }));
      }, PING_MS);
    });
    socket.addEventListener("message", onMessage);
    socket.addEventListener("close", function () {
      clearInterval(pingTimer);
      setState("reconnecting");
      // Exponential backoff with jitter, so a restarted server is not hit by every tab at once.
      const delay = Math.min(MAX_BACKOFF_MS, 500 * 2 ** attempt) * (0.5 + Math.random() / 2);
      attempt += 1;
      setTimeout(connect, delay);
    });
  }

  // ---------------------------------------------------------------- decisions (htmx)

  // Refusals come back as 4xx with HX-Retarget: #flash; htmx 2 does not swap 4xx by default.
  document.addEventListener("htmx:beforeSwap", function (event) {
    const xhr = event.detail.xhr;
    if (xhr.status >= 400 && xhr.status < 500 && xhr.getResponseHeader("HX-Retarget")) {
      event.detail.shouldSwap = true;
      event.detail.isError = false;
    }
  });

  // Clear the last refusal when a decision is sent, not when it succeeds: the push for a decided
  // row can replace the form before its own answer arrives, and events from a detached form never
  // reach the document.
  document.addEventListener("htmx:beforeRequest", function (event) {
    const form = event.detail.elt;
    if (form.matches && form.matches("form.decide, form.breaker-reset")) flash().replaceChildren();
  });

  document.addEventListener("htmx:afterRequest", function (event) {
    const form = event.detail.elt;
    if (!form.matches || !form.matches("form.decide")) return;
    const xhr = event.detail.xhr;
    if (xhr.status >= 200 && xhr.status < 300 && !xhr.getResponseHeader("HX-Redirect")) {
      upsertRow(xhr.responseText);
    } else if (xhr.status >= 500) {
      showError("The server could not record that decision (HTTP " + xhr.status + "). Try again.");
    } else if (xhr.status >= 400 && !xhr.getResponseHeader("HX-Retarget")) {
      showError("That decision was refused (HTTP " + xhr.status + "). Reload the page and try again.");
    }
  });

  document.addEventListener("htmx:sendError", function () {
    showError("Could not reach Countersign. Check the connection and try again.");
  });

  // ---------------------------------------------------------------- start

  function start() {
    refreshCounts();
    updateAges();
    setInterval(updateAges, 30000);
    connect();
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
