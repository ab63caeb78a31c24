// Each file goes up on its own request, so each has its own progress bar and its own
// answer: a job link, or the reason it was refused. Then the row follows its job over the
// websocket: Queued → Processing 37 % → Completed (or the failure, with Retry).
(function () {
  const form = document.getElementById("upload-form");
  const input = document.getElementById("id_file");
  const zone = document.getElementById("dropzone");
  const list = document.getElementById("uploads");
  const maxBytes = Number(form.dataset.maxBytes);
  const csrf = () => new FormData(form).get("csrfmiddlewaretoken");
  const escape = (text) => { const span = document.createElement("span"); span.textContent = text ?? ""; return span.innerHTML; };
  const jobRows = () => Array.from(list.querySelectorAll("li[data-job]"));

  const live = followJobs("/ws/jobs/", (event) => {
    const id = event.type === "deleted" ? event.public_id : event.job?.public_id;
    const item = list.querySelector(`li[data-job="${id}"]`);
    if (!item) return;  // a job of this person's that was not uploaded here
    if (event.type === "deleted") { item.querySelector(".state").textContent = "Deleted"; delete item.dataset.status; return; }
    follow(item, event.job);
  }, () => jobRows().map((item) => item.dataset.job),
  { running: () => jobRows().some((item) => RUNNING.includes(item.dataset.status)) });

  // The row's words for where its job stands, with a link to the job's page.
  function follow(item, job) {
    item.dataset.status = job.status;
    const state = item.querySelector(".state");
    const open = `<a href="${job.url}">open</a>`;
    const progress = job.progress;
    item.classList.toggle("done", job.status === "completed" || RUNNING.includes(job.status));
    item.classList.toggle("failed", ["failed", "expired", "cancelled"].includes(job.status));
    if (job.status === "queued") {
      const ahead = progress?.queue_position;
      state.innerHTML = `Queued${ahead ? `, ${ahead} job${ahead === 1 ? "" : "s"} ahead` : ""} · ${open}`;
    } else if (RUNNING.includes(job.status)) {
      const share = progress?.fraction != null && progress.seconds_done > 0 ? ` ${percent(progress.fraction)} %` : "";
      const stage = share || !progress ? "" : ` · ${escape(progress.stage_label.toLowerCase())}`;
      state.innerHTML = `${escape(job.status_label)}${share}${stage} · ${open}`;
    } else if (job.status === "failed" || job.status === "expired") {
      state.innerHTML = `${escape(job.status_label)}: ${escape(job.failure_reason)} · <button type="button" class="link retry">Retry</button> · ${open}`;
      state.querySelector(".retry").addEventListener("click", () => retry(item, job));
    } else {
      state.innerHTML = `${escape(job.status_label)} · ${open}`;
    }
  }

  async function retry(item, job) {
    const response = await fetch(`/api/v1/jobs/${job.public_id}/retry/`, {
      method: "POST", headers: { "X-CSRFToken": csrf(), Accept: "application/json" }, credentials: "same-origin" });
    const answer = await response.json().catch(() => ({}));
    if (response.ok) follow(item, { ...answer, url: answer.page_url });  // the API's url is its own
    else item.querySelector(".state").append(` (not retried: ${answer.error || response.status})`);
  }

  ["dragenter", "dragover"].forEach((name) => zone.addEventListener(name, (e) => {
    e.preventDefault(); zone.classList.add("over");
  }));
  ["dragleave", "drop"].forEach((name) => zone.addEventListener(name, (e) => {
    e.preventDefault(); zone.classList.remove("over");
  }));
  zone.addEventListener("drop", (e) => send(e.dataTransfer.files));
  form.addEventListener("submit", (e) => { e.preventDefault(); send(input.files); input.value = ""; });

  function send(files) {
    for (const file of files) upload(file);
  }

  // Record from the microphone (MediaRecorder); the recording is uploaded like a file.
  const recordButton = document.getElementById("record-button");
  const recordState = document.getElementById("record-state");
  let recorder = null, started = 0, ticker = null;
  if (!navigator.mediaDevices?.getUserMedia || !window.MediaRecorder) {
    recordButton.disabled = true;
    recordState.textContent = "This browser cannot record here (recording needs HTTPS or localhost).";
  }
  recordButton.addEventListener("click", async () => {
    if (recorder) { recorder.stop(); return; }
    let stream;
    try {
      stream = await navigator.mediaDevices.getUserMedia({ audio: true });
    } catch (err) {
      recordState.textContent = `No microphone: ${err.message}`;
      return;
    }
    const chunks = [];
    const type = MediaRecorder.isTypeSupported("audio/webm;codecs=opus") ? "audio/webm;codecs=opus" : "";
    recorder = new MediaRecorder(stream, type ? { mimeType: type } : {});
    recorder.ondataavailable = (e) => { if (e.data.size) chunks.push(e.data); };
    recorder.onstop = () => {
      stream.getTracks().forEach((t) => t.stop());
      clearInterval(ticker);
      const blob = new Blob(chunks, { type: recorder.mimeType || "audio/webm" });
      const stamp = new Date().toISOString().slice(0, 19).replace(/[T:]/g, "-");
      upload(new File([blob], `recording-${stamp}.webm`, { type: blob.type }));
      recorder = null;
      recordButton.textContent = "● Record from microphone";
      recordButton.setAttribute("aria-pressed", "false");
      recordState.textContent = "";
    };
    recorder.start(1000);
    started = Date.now();
    recordButton.textContent = "■ Stop and upload";
    recordButton.setAttribute("aria-pressed", "true");
    ticker = setInterval(() => { recordState.textContent = `Recording… ${Math.round((Date.now() - started) / 1000)} s`; }, 500);
  });

  function upload(file) {
    const item = document.createElement("li");
    item.className = "upload";
    item.innerHTML = `<span class="name"></span><progress max="100" value="0"></progress><span class="state">Uploading…</span>`;
    item.querySelector(".name").textContent = file.name;
    list.prepend(item);
    const bar = item.querySelector("progress");
    const state = item.querySelector(".state");
    if (file.size > maxBytes) {
      return fail(item, state, "larger than the upload limit");
    }
    const data = new FormData(form);
    data.set("file", file, file.name);
    const request = new XMLHttpRequest();
    request.open("POST", form.action || location.pathname);
    request.setRequestHeader("X-CSRFToken", data.get("csrfmiddlewaretoken"));
    request.upload.onprogress = (e) => { if (e.lengthComputable) bar.value = (100 * e.loaded) / e.total; };
    request.onload = () => {
      let answer = {};
      try { answer = JSON.parse(request.responseText); } catch (err) { /* not JSON */ }
      if (request.status === 201) {
        bar.value = 100;
        item.dataset.job = answer.job.public_id;
        follow(item, answer.job);
        live.sync();  // what happened to the job before this row was told of it
      } else {
        fail(item, state, answer.error || `the server answered ${request.status}`);
      }
    };
    request.onerror = () => fail(item, state, "the connection failed; try again");
    request.send(data);
  }

  function fail(item, state, message) {
    item.classList.add("failed");
    state.textContent = `Refused: ${message}`;
  }
})();
