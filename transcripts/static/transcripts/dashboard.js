// Status changes and progress arrive over the websocket and update the table in place.
(function () {
  const table = document.getElementById("jobs");
  if (!table) return;
  const body = table.tBodies[0];
  const escape = (text) => { const span = document.createElement("span"); span.textContent = text ?? ""; return span.innerHTML; };
  const when = localTime;  // from live.js

  function progressCell(progress) {
    if (!progress) return "";
    const bar = progress.stage !== "queued" && progress.fraction != null
      ? `<progress class="mini" max="1" value="${progress.fraction}" aria-hidden="true"></progress>` : "";
    const note = progress.note ? ` title="${escape(progress.note)}"` : "";
    return ` <span class="job-progress" data-field="progress"${note}>${escape(progressBrief(progress))}</span>${bar}`;
  }

  function render(row, job) {
    row.dataset.status = job.status;
    row.innerHTML = `
      <td><a href="${job.url}">${escape(job.original_name)}</a></td>
      <td><span class="status status-${job.status}" data-field="status">${escape(job.status_label)}</span>${progressCell(job.progress)}</td>
      <td data-field="duration">${job.duration != null ? job.duration.toFixed(1) + " s" : ""}</td>
      <td data-field="language">${escape(job.language)}</td>
      <td>${when(job.created_at)}</td>
      <td data-field="finished_at">${when(job.finished_at)}</td>`;
  }

  followJobs("/ws/jobs/", (event) => {
    if (event.type === "deleted") {
      body.querySelector(`tr[data-job="${event.public_id}"]`)?.remove();
      return;
    }
    const job = event.job;
    let row = body.querySelector(`tr[data-job="${job.public_id}"]`);
    if (!row) {
      if (table.dataset.live !== "1") return;  // a filtered or later page: leave it be
      body.querySelector("tr.empty")?.remove();
      row = document.createElement("tr");
      row.dataset.job = job.public_id;
      body.prepend(row);
    }
    render(row, job);
  }, () => Array.from(body.querySelectorAll("tr[data-job]"), (row) => row.dataset.job),
  { running: () => Array.from(body.querySelectorAll("tr[data-job]")).some((row) => RUNNING.includes(row.dataset.status)) });
})();
