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
