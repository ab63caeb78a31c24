// Each file goes up on its own request, so each has its own progress bar and its own
// answer: a job link, or the reason it was refused.
(function () {
  const form = document.getElementById("upload-form");
  const input = document.getElementById("id_file");
  const zone = document.getElementById("dropzone");
  const list = document.getElementById("uploads");
  const maxBytes = Number(form.dataset.maxBytes);

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
        item.classList.add("done");
        state.innerHTML = `Queued · <a href="${answer.job.url}">open</a>`;
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
