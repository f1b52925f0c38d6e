// The live websocket, shared by the queue, action and escalation pages: it connects, pings to
// keep idle proxies from closing it, reconnects with backoff and shows the state in #live-status.
// Each page gives what to do on every (re)connect and with each message.
(function () {
  "use strict";

  const PING_MS = 25000;
  const MAX_BACKOFF_MS = 30000;
  const CLOSE_PERSON_CHANGED = 4401; // approvals.consumers.CLOSE_PERSON_CHANGED
  const LABELS = { connecting: "Connecting…", live: "Live", reconnecting: "Reconnecting…" };

  function setState(state) {
    const status = document.getElementById("live-status");
    if (!status) return;
    status.dataset.state = state;
    status.textContent = LABELS[state] || state;
  }

  // countersignConnect({onOpen, onMessage, path}) -> {socket()}: onMessage gets each parsed
  // message; onOpen runs on every open, the first too, since whatever changed before the socket
  // joined its groups was never pushed to the page. `path`: the socket's (the dashboard's by
  // default; the escalation workspace has its own).
  window.countersignConnect = function (handlers) {
    let socket = null;
    let attempt = 0;
    let pingTimer = null;

    function connect() {
      const scheme = window.location.protocol === "https:" ? "wss://" : "ws://";
      socket = new WebSocket(scheme + window.location.host + (handlers.path || "/ws/dashboard/"));
      socket.addEventListener("open", function () {
        attempt = 0;
        setState("live");
        handlers.onOpen();
        clearInterval(pingTimer);
        pingTimer = setInterval(function () {
          if (socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify({ type: "ping" }));
        }, PING_MS);
      });
      socket.addEventListener("message", function (event) {
        let message;
        try {
          message = JSON.parse(event.data);
        } catch {
          return; // a garbled frame is dropped; the next push or resync brings the truth
        }
        if (message && typeof message === "object") handlers.onMessage(message);
      });
      socket.addEventListener("close", function (event) {
        clearInterval(pingTimer);
        // The person signed out (elsewhere too) or their roles changed: the server shows the
        // sign-in page or the page with their new rights.
        if (event.code === CLOSE_PERSON_CHANGED) {
          window.location.reload();
          return;
        }
        setState("reconnecting");
        // Exponential backoff with jitter, so a restarted server is not hit by every tab at once.
        const delay = Math.min(MAX_BACKOFF_MS, 500 * 2 ** attempt) * (0.5 + Math.random() / 2);
        attempt += 1;
        setTimeout(connect, delay);
      });
    }

    connect();
    return {
      socket: function () {
        return socket;
      },
    };
  };
})();
