// The action page: keeps the viewer's review claim alive, gives it up when they leave, and
// re-reads the page's header/claim/decision panel when the dashboard websocket says the action
// changed. Every piece of HTML placed here comes from the server, already escaped.
(function () {
  "use strict";

  const HEARTBEAT_MS = 60000;

  const root = document.getElementById("action-page");
  if (!root) return;
  const actionId = root.dataset.actionId;
  let refreshing = null;
  let refreshAgain = false;

  function page() {
    return document.getElementById("action-page") || root;
  }

  function panel() {
    return document.getElementById("action-panel");
  }

  function csrfToken() {
    return page().dataset.csrfToken || "";
  }

  function parse(html) {
    const template = document.createElement("template");
    template.innerHTML = html; // a server-rendered, escaped partial
    return template.content;
  }

  // Swap in a fresh panel unless it would show the same thing (one's own claim renewal): a reason
  // being picked or a note being typed survives the pushes that change nothing.
  function placePanel(html, force) {
    const incoming = parse(html).querySelector("#action-panel");
    const current = panel();
    if (!incoming || !current) return;
    if (!force && incoming.dataset.key === current.dataset.key) return;
    current.replaceWith(incoming);
    htmx.process(incoming);
  }

  // One refetch at a time; pushes that arrive meanwhile ask for one more after it.
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
          window.location.reload();
          return;
        }
        if (response.ok) placePanel(await response.text(), false);
      } catch (error) {
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

  // ---------------------------------------------------------------- claim heartbeat and release

  function claimedByMe() {
    const current = panel();
    return Boolean(current && current.dataset.claimedByMe === "1");
  }

  async function heartbeat() {
    if (!claimedByMe()) return; // a tab in the background still holds the review it opened
    await claim();
  }

  // Claim, or renew one's claim: a POST with the CSRF token, never the page's GET, so a link from
  // another site can open the page but not lock the action.
  async function claim() {
    const body = new FormData();
    body.append("csrfmiddlewaretoken", csrfToken());
    try {
      const response = await fetch(page().dataset.claimUrl, {
        method: "POST",
        body: body,
        headers: { "HX-Request": "true" },
        credentials: "same-origin",
      });
      if (response.ok || response.status === 409) placePanel(await response.text(), false);
    } catch (error) {
      // the claim runs out on its own if the server cannot be reached
    }
  }

  // Best effort: a closed tab or a followed link frees the action for the next reviewer at once.
  window.addEventListener("pagehide", function () {
    if (!claimedByMe() || !navigator.sendBeacon) return;
    const body = new FormData();
    body.append("csrfmiddlewaretoken", csrfToken());
    body.append("beacon", "1");
    // Only the claim this page knew: if the reviewer opened the action again, that page renewed it.
    body.append("claim_expires_at", panel().dataset.claimExpires || "");
    navigator.sendBeacon(page().dataset.releaseUrl, body);
  });

  // Back from the back/forward cache: the claim may have been released on the way out.
  window.addEventListener("pageshow", function (event) {
    if (event.persisted) refreshPanel();
  });

  // ---------------------------------------------------------------- htmx answers

  // Refusals come back as 4xx carrying the fresh panel (or the edit form with its errors) and the
  // service's words: show them instead of dropping them, as htmx 2 does by default.
  document.addEventListener("htmx:beforeSwap", function (event) {
    const status = event.detail.xhr.status;
    if (status >= 400 && status < 500 && page().contains(event.detail.elt)) {
      event.detail.shouldSwap = true;
      event.detail.isError = false;
    }
  });

  // ---------------------------------------------------------------- websocket

  function onMessage(message) {
    if (message.type !== "action.changed" || message.action_id !== actionId) return;
    refreshPanel();
  }

  function start() {
    // Opening the page claims an action that waits for a person and is free (the server says so).
    if (root.dataset.claimOnOpen === "1") claim();
    setInterval(heartbeat, HEARTBEAT_MS);
    window.countersignConnect({ onOpen: refreshPanel, onMessage: onMessage });
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
