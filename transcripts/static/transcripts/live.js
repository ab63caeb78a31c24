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

// A place in a recording as a clock reads it: 75 → "1:15", 3725 → "1:02:05".
function clock(seconds) {
  const whole = Math.max(Math.floor(seconds || 0), 0);
  const h = Math.floor(whole / 3600), m = Math.floor((whole % 3600) / 60), s = whole % 60;
  const pad = (n) => String(n).padStart(2, "0");
  return h ? `${h}:${pad(m)}:${pad(s)}` : `${m}:${pad(s)}`;
}

// A rough time span: "12 s", "4 min", "1.5 h".
function aboutTime(seconds) {
  if (seconds < 60) return `${Math.max(Math.round(seconds), 1)} s`;
  if (seconds < 3600) return `${Math.round(seconds / 60)} min`;
  return `${(seconds / 3600).toFixed(1)} h`;
}

const RUNNING = ["queued", "submitted", "processing"];
const percent = (fraction) => Math.floor(fraction * 100 + 1e-9);

// A running job's progress in a few words (the job summary's `progress`): how many jobs are
// ahead of a queued one; the share done and the time left; else the stage.
function progressBrief(progress) {
  if (!progress) return "";
  if (progress.stage === "queued") {
    const ahead = progress.queue_position;
    return ahead ? `${ahead} job${ahead === 1 ? "" : "s"} ahead` : "next in line";
  }
  if (progress.fraction != null && progress.seconds_done > 0) {
    const left = progress.eta_seconds != null ? ` · about ${aboutTime(progress.eta_seconds)} left` : "";
    return `${percent(progress.fraction)} %${left}`;
  }
  return progress.stage_label;
}

// A websocket to /ws/jobs/ that reconnects on its own; calls onMessage with each event.
// On each (re)connect it asks for the current state of the jobs shownJobs() lists: a change
// made after the page was rendered, or while the socket was down, is not missed. While one
// of them runs it asks again every `resyncMs` (progress messages are thinned out to about
// one a second, and queue positions change when other people's jobs move). Returns
// { sync() } to ask at once (a job the page just started to show).
function followJobs(path, onMessage, shownJobs, { resyncMs = 10000, running = () => true } = {}) {
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  let delay = 500, socket = null;
  const sync = () => {
    if (socket && socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify({ type: "sync", jobs: shownJobs() }));
  };
  setInterval(() => { if (running()) sync(); }, resyncMs);
  function connect() {
    socket = new WebSocket(`${scheme}://${location.host}${path}`);
    socket.onopen = () => {
      delay = 500;
      sync();
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
  return { sync };
}
