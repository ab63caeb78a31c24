// Times are sent in UTC (ISO 8601); people read them in their own time zone.
function localTime(iso) {
  if (!iso) return "";
  const d = new Date(iso);
  const pad = (n) => String(n).padStart(2, "0");
  const text = `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
  return `<time datetime="${iso}">${text}</time>`;
}

function localizeTimes(root) {
  root.querySelectorAll("time[datetime]").forEach((node) => { node.outerHTML = localTime(node.getAttribute("datetime")); });
}
document.addEventListener("DOMContentLoaded", () => localizeTimes(document));

// A websocket to /ws/jobs/ that reconnects on its own; calls onMessage with each event.
// On each (re)connect it asks for the current state of the jobs shownJobs() lists: a change
// made after the page was rendered, or while the socket was down, is not missed.
function followJobs(path, onMessage, shownJobs) {
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  let delay = 500;
  function connect() {
    const socket = new WebSocket(`${scheme}://${location.host}${path}`);
    socket.onopen = () => {
      delay = 500;
      socket.send(JSON.stringify({ type: "sync", jobs: shownJobs() }));
      document.body.dataset.live = "connected";
    };
    socket.onmessage = (event) => onMessage(JSON.parse(event.data));
    socket.onclose = (event) => {
      document.body.dataset.live = "closed";
      if (event.code === 4401 || event.code === 4404) return;  // not logged in, not yours
      setTimeout(connect, delay);
      delay = Math.min(delay * 2, 10000);
    };
  }
  connect();
}
