// The transcript follows the player: clicking a segment plays from there, and the segment
// being played is highlighted. While the job is not finished, the page waits for it live.
(function () {
  const player = document.getElementById("player");
  const segments = Array.from(document.querySelectorAll("#segments .segment"));
  segments.forEach((segment) => {
    const seek = () => { player.currentTime = Number(segment.dataset.start); player.play(); };
    segment.addEventListener("click", seek);
    segment.addEventListener("keydown", (e) => { if (e.key === "Enter") seek(); });
  });
  let current = null;
  player?.addEventListener("timeupdate", () => {
    const t = player.currentTime;
    const playing = segments.find((s) => t >= Number(s.dataset.start) && t < Number(s.dataset.end));
    if (playing === current) return;
    current?.classList.remove("current");
    playing?.classList.add("current");
    current = playing;
  });

  const status = document.getElementById("job-status");
  const waiting = status && ["queued", "submitted", "processing"].includes(status.dataset.status);
  if (waiting) {
    followJobs(`/ws/jobs/${status.dataset.job}/`, (event) => {
      if (event.type === "deleted") { location.href = "/"; return; }
      status.textContent = event.job.status_label;
      status.className = `status status-${event.job.status}`;
      if (["completed", "failed", "expired"].includes(event.job.status)) location.reload();
    });
  }
})();
