// The transcript follows the player: the segment (and, with word timestamps, the word)
// being played is highlighted and kept in view; clicking a word or a segment plays from
// there; keys: Space play/pause, arrows previous/next segment, E edit. Corrections are saved
// per segment as new versions.
//
// While the job runs, the page follows it live: its stage and progress bar, and the
// segments transcribed so far, which appear as they are made and can be played from like
// the final ones. When the job finishes, the page's head and body are swapped for the
// finished page's (fetched, not reloaded): the player is not touched, so it keeps playing,
// and the reader stays where they were in the transcript.
(function () {
  const player = document.getElementById("player");
  const head = document.getElementById("job-head");
  const body = document.getElementById("job-body");
  if (!player || !head || !body) return;

  // The transcript shown now (the partial one, or the final one): set by wire().
  let list = null, data = null, rows = [], starts = [], byId = new Map();
  let currentRow = -1, currentWord = null, lastScroll = 0;
  let only = null;  // the speaker the transcript is narrowed to, if any

  function wire() {
    list = document.getElementById("segments");
    data = JSON.parse(document.getElementById("transcript-data")?.textContent || "null");
    rows = list ? Array.from(list.querySelectorAll(".segment")) : [];
    starts = rows.map((row) => Number(row.dataset.start));
    byId = new Map((data?.segments || []).map((s) => [String(s.id), s]));
    rows.forEach(addWords);
    currentRow = -1;
    currentWord = null;
    if (only && !data?.speakers?.[only]) only = null;
    showOnly(only);
  }

  // Words as their own spans, so each can be clicked and highlighted.
  function addWords(row) {
    const words = byId.get(row.dataset.id)?.words;
    if (!words || !words.length) return;
    const text = row.querySelector(".text");
    text.textContent = "";
    words.forEach((w) => {
      const span = document.createElement("span");
      span.className = "word";
      span.dataset.start = w.start;
      span.dataset.end = w.end;
      // Whisper's words start with their space: keep it outside the highlight.
      const space = /^\s*/.exec(w.word)[0];
      span.textContent = w.word.slice(space.length);
      text.append(space, span);
    });
  }

  function segmentRow(segment, editable = true) {
    const row = document.createElement("li");
    row.className = "segment";
    row.dataset.id = segment.id;
    row.dataset.start = segment.start;
    row.dataset.end = segment.end;
    const time = document.createElement("button");
    time.type = "button";
    time.className = "time";
    time.setAttribute("aria-label", `Play from ${segment.start.toFixed(1)} seconds`);
    time.textContent = `${segment.start.toFixed(1)}s`;
    const text = document.createElement("span");
    text.className = "text";
    text.textContent = segment.text;
    row.append(time, " ");
    const who = data?.speakers?.[segment.speaker];
    if (who) {  // a turn begins where the speaker changes
      const previous = rows.length ? rows[rows.length - 1].dataset.speaker : undefined;
      row.dataset.speaker = segment.speaker;
      row.classList.add(`spk-${who.colour}`);
      if (previous !== segment.speaker) row.classList.add("turn");
      const name = document.createElement("button");
      name.type = "button";
      name.className = "who";
      name.setAttribute("aria-label", `${who.name}: move this segment to another speaker`);
      name.textContent = who.name;
      row.append(name, " ");
      if (only && only !== segment.speaker) row.hidden = true;
    }
    row.append(text);
    if (editable) {
      const edit = document.createElement("button");
      edit.type = "button";
      edit.className = "edit link";
      edit.setAttribute("aria-label", "Edit this segment");
      edit.textContent = "Edit";
      row.append(" ", edit);
    }
    return row;
  }

  // A long transcript: the page came with its first screenful; the rest is appended a
  // batch per frame, so the page answers clicks and keys all along.
  async function loadRest() {
    if (!list || !data || !data.rest_url || rows.length >= data.total) return;
    const shown = list;
    const response = await fetch(data.rest_url, { headers: { Accept: "application/json" } });
    if (!response.ok || shown !== list) return;
    const rest = await response.json();
    if (rest.version !== data.version) { location.reload(); return; }
    let next = 0;
    await new Promise((done) => {
      function batch() {
        if (shown !== list) { done(); return; }
        const fragment = document.createDocumentFragment();
        for (const segment of rest.segments.slice(next, next + 200)) {
          byId.set(String(segment.id), segment);
          const row = segmentRow(segment);
          addWords(row);
          rows.push(row);
          starts.push(Number(segment.start));
          fragment.appendChild(row);
        }
        list.appendChild(fragment);
        next += 200;
        if (next < rest.segments.length) requestAnimationFrame(batch); else done();
      }
      requestAnimationFrame(batch);
    });
    list.dataset.complete = "1";
  }

  function seek(seconds, play = true) {
    player.currentTime = seconds;
    if (play) player.play().catch(() => {});
  }

  body.addEventListener("click", (event) => {
    const link = event.target.closest("[data-seek]");
    if (link) { event.preventDefault(); seek(Number(link.dataset.seek)); return; }
    if (event.target.closest("#copy-text")) { copyText(); return; }
    const item = event.target.closest(".speaker-item");
    if (item && event.target.closest(".rename")) { openRenamer(item); return; }
    if (item && event.target.closest(".only")) { showOnly(only === item.dataset.speaker ? null : item.dataset.speaker); return; }
    if (event.target.closest("#show-everyone")) { showOnly(null); return; }
    if (!list || !list.contains(event.target)) return;
    const edit = event.target.closest(".edit");
    if (edit) { openEditor(edit.closest(".segment")); return; }
    const who = event.target.closest(".who");
    if (who) { openMover(who.closest(".segment")); return; }
    if (event.target.closest(".editor, .mover")) return;
    const word = event.target.closest(".word");
    const row = event.target.closest(".segment");
    if (word) seek(Number(word.dataset.start));
    else if (row) seek(Number(row.dataset.start));
  });

  // Which segment holds time t: the last one starting at or before it (binary search).
  function rowAt(t) {
    let low = 0, high = starts.length - 1, found = -1;
    while (low <= high) {
      const mid = (low + high) >> 1;
      if (starts[mid] <= t) { found = mid; low = mid + 1; } else high = mid - 1;
    }
    return found >= 0 && t < Number(rows[found].dataset.end) + 0.3 ? found : -1;
  }

  function markCurrent(index, scroll) {
    rows[currentRow]?.classList.remove("current");
    rows[currentRow]?.removeAttribute("aria-current");
    if (index >= 0) {
      rows[index].classList.add("current");
      rows[index].setAttribute("aria-current", "true");
      if (scroll) rows[index].scrollIntoView({ block: "center", behavior: "smooth" });
    }
    currentRow = index;
  }

  window.addEventListener("scroll", () => { lastScroll = Date.now(); }, { passive: true });
  player.addEventListener("timeupdate", () => {
    const t = player.currentTime;
    const index = rowAt(t);
    // Keep it in view, unless the person scrolled away in the last few seconds.
    if (index !== currentRow) markCurrent(index, Date.now() - lastScroll > 3000);
    const word = index >= 0 ? Array.from(rows[index].querySelectorAll(".word"))
      .find((w) => t >= Number(w.dataset.start) && t < Number(w.dataset.end)) : null;
    if (word !== currentWord) {
      currentWord?.classList.remove("current-word");
      word?.classList.add("current-word");
      currentWord = word;
    }
  });

  document.addEventListener("keydown", (event) => {
    if (!rows.length) return;
    if (event.target.closest("input, textarea, select, button, [contenteditable]") || event.ctrlKey || event.metaKey || event.altKey) return;
    if (event.key === " ") {
      event.preventDefault();
      player.paused ? player.play().catch(() => {}) : player.pause();
    } else if (event.key === "ArrowDown" || event.key === "ArrowUp") {
      event.preventDefault();
      const from = currentRow >= 0 ? currentRow : rowAt(player.currentTime);
      const step = event.key === "ArrowDown" ? 1 : -1;
      let next = Math.min(Math.max(from + step, 0), rows.length - 1);
      while (rows[next].hidden && next + step >= 0 && next + step < rows.length) next += step;  // narrowed to one speaker
      if (rows[next].hidden) return;
      seek(starts[next], !player.paused);
      rows[next].focus?.();
    } else if ((event.key === "e" || event.key === "E") && list.dataset.saveUrl) {
      const row = rows[currentRow >= 0 ? currentRow : 0];
      if (row) { event.preventDefault(); openEditor(row); }
    }
  });

  // ---------------------------------------------------------------- corrections
  const csrf = document.cookie.split("; ").find((c) => c.startsWith("csrftoken="))?.split("=")[1];
  const saveUrl = (id) => list.dataset.saveUrl.replace(/\/0\/$/, `/${id}/`);

  function openEditor(row) {
    if (!list.dataset.saveUrl || row.querySelector(".editor")) return;
    const editState = document.getElementById("edit-state");
    const text = row.querySelector(".text");
    const editor = document.createElement("div");
    editor.className = "editor";
    editor.innerHTML = `<label class="visually-hidden" for="edit-${row.dataset.id}">Segment text</label>
      <textarea id="edit-${row.dataset.id}" rows="2"></textarea>
      <button type="button" class="button save">Save</button>
      <button type="button" class="button secondary cancel">Cancel</button>`;
    const area = editor.querySelector("textarea");
    area.value = text.textContent.trim();
    text.hidden = true;
    row.querySelector(".edit").hidden = true;
    text.after(editor);
    area.focus();
    const close = () => { editor.remove(); text.hidden = false; row.querySelector(".edit").hidden = false; };
    editor.querySelector(".cancel").addEventListener("click", close);
    area.addEventListener("keydown", (e) => {
      if (e.key === "Escape") close();
      if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) editor.querySelector(".save").click();
    });
    editor.querySelector(".save").addEventListener("click", async () => {
      const response = await fetch(saveUrl(row.dataset.id), {
        method: "POST", headers: { "Content-Type": "application/json", "X-CSRFToken": csrf },
        body: JSON.stringify({ text: area.value, base: Number(list.dataset.version) }),
      });
      const answer = await response.json().catch(() => ({}));
      if (!response.ok) { editState.textContent = `Not saved: ${answer.error || response.status}`; return; }
      list.dataset.version = answer.version;
      text.textContent = answer.segment.text;  // plain text: the machine's word timings are gone
      close();
      editState.innerHTML = `Saved as version ${answer.version}. <a href="">Reload</a> to see the history.`;
    });
  }

  // ---------------------------------------------------------------- speakers
  // Narrow the transcript to one speaker's segments (null: everyone's).
  function showOnly(speaker) {
    only = speaker;
    rows.forEach((row) => { row.hidden = Boolean(only) && row.dataset.speaker !== only; });
    document.querySelectorAll(".speaker-item").forEach((item) => {
      const on = item.dataset.speaker === only;
      item.classList.toggle("chosen", on);
      item.querySelector(".only").setAttribute("aria-pressed", String(on));
    });
    if (list) list.dataset.only = only || "";
    const note = document.getElementById("speaker-filter");
    if (!note) return;
    note.hidden = !only;
    if (only) {
      const count = rows.filter((row) => !row.hidden).length;
      note.innerHTML = `Showing only <strong></strong>: ${count} segment${count === 1 ? "" : "s"}. <button type="button" class="link" id="show-everyone">Show everyone</button>`;
      note.querySelector("strong").textContent = data.speakers[only].name;
    }
  }

  async function post(url, body) {
    const response = await fetch(url, {
      method: "POST", headers: { "Content-Type": "application/json", "X-CSRFToken": csrf },
      body: JSON.stringify({ ...body, base: Number(list.dataset.version) }),
    });
    return { response, answer: await response.json().catch(() => ({})) };
  }

  // After a rename or a move: the new version's page, swapped in place (player untouched).
  async function showVersion(message, where) {
    await swapIn();
    const state = document.getElementById(where);
    if (state) state.textContent = message;
  }

  function openRenamer(item) {
    if (item.querySelector(".renamer")) return;
    const section = document.getElementById("speakers");
    const state = document.getElementById("speaker-state");
    const speaker = item.dataset.speaker;
    const form = document.createElement("form");
    form.className = "renamer";
    form.innerHTML = `<label>New name <input name="name" maxlength="80" autocomplete="off"></label>
      <button type="submit" class="button">Save</button>
      <button type="button" class="button secondary cancel">Cancel</button>`;
    const input = form.querySelector("input");
    input.value = data.speakers[speaker].name;
    item.append(form);
    input.focus();
    input.select();
    const close = () => form.remove();
    form.querySelector(".cancel").addEventListener("click", close);
    input.addEventListener("keydown", (e) => { if (e.key === "Escape") close(); });
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      const url = section.dataset.renameUrl.replace(/\/S0\/$/, `/${encodeURIComponent(speaker)}/`);
      const { response, answer } = await post(url, { name: input.value });
      if (!response.ok) { state.textContent = `Not saved: ${answer.error || response.status}`; return; }
      const named = answer.speakers.find((s) => s.id === speaker);
      await showVersion(`Saved as version ${answer.version}: ${named.name || named.label} everywhere.`, "speaker-state");
    });
  }

  function openMover(row) {
    if (!list.dataset.moveUrl || row.querySelector(".mover")) return;
    const form = document.createElement("form");
    form.className = "mover";
    const choices = Object.entries(data.speakers).map(([id, s]) =>
      `<option value="${id}"${id === row.dataset.speaker ? " selected" : ""}></option>`).join("");
    form.innerHTML = `<label>Said by <select name="speaker">${choices}<option value="new">A new speaker</option></select></label>
      <button type="submit" class="button">Move</button>
      <button type="button" class="button secondary cancel">Cancel</button>`;
    const select = form.querySelector("select");
    Object.values(data.speakers).forEach((s, i) => { select.options[i].textContent = s.name; });
    row.querySelector(".text").after(form);
    select.focus();
    const close = () => form.remove();
    form.querySelector(".cancel").addEventListener("click", close);
    select.addEventListener("keydown", (e) => { if (e.key === "Escape") close(); });
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      const url = list.dataset.moveUrl.replace(/\/0\/speaker\/$/, `/${row.dataset.id}/speaker/`);
      const { response, answer } = await post(url, { speaker: select.value });
      const state = document.getElementById("edit-state");
      if (!response.ok) { state.textContent = `Not moved: ${answer.error || response.status}`; return; }
      const to = answer.speakers.find((s) => s.id === answer.segment.speaker);
      await showVersion(`Saved as version ${answer.version}: the segment at ${Number(answer.segment.start).toFixed(1)}s is ${to.name || to.label}'s.`, "edit-state");
    });
  }

  // ---------------------------------------------------------------- copy
  async function copyText() {
    // With speakers, as the TXT download reads: "Name: text", a paragraph per turn.
    const paragraphs = [];
    let speaker;
    rows.forEach((row) => {
      const text = row.querySelector(".text").textContent.trim();
      const who = data?.speakers?.[row.dataset.speaker];
      if (who && row.dataset.speaker === speaker) paragraphs[paragraphs.length - 1] += ` ${text}`;
      else paragraphs.push(who ? `${who.name}: ${text}` : text);
      speaker = row.dataset.speaker;
    });
    const text = paragraphs.join(data?.speakers && Object.keys(data.speakers).length ? "\n\n" : "\n");
    const state = document.getElementById("copy-state");
    try { await navigator.clipboard.writeText(text); state.textContent = "Copied."; }
    catch (err) { state.textContent = "Copy is not allowed here; select the text instead."; }
  }

  // ---------------------------------------------------------------- a running job, live
  const status = document.getElementById("job-status");
  if (status && RUNNING.includes(status.dataset.status)) {
    let settled = false;
    followJobs(`/ws/jobs/${status.dataset.job}/`, (event) => {
      if (event.type === "deleted") { location.href = "/"; return; }
      if (settled) return;
      if (event.type === "partial") { showPartial(event.from, event.segments); return; }
      const job = event.job;
      status.textContent = job.status_label;
      status.className = `status status-${job.status}`;
      status.dataset.status = job.status;
      if (RUNNING.includes(job.status)) showProgress(job.progress);
      else { settled = true; showOutcome(); }
    }, () => [status.dataset.job], { resyncMs: 5000, running: () => !settled });
  }

  function showProgress(progress) {
    const card = document.getElementById("progress");
    if (!card || !progress) return;
    card.dataset.stage = progress.stage;
    card.dataset.seconds = progress.seconds_done;
    document.getElementById("progress-stage").textContent = progress.stage_label;
    const parts = [];
    if (progress.stage === "queued") parts.push(progressBrief(progress));
    if (progress.duration) parts.push(`${clock(progress.seconds_done)} of ${clock(progress.duration)} (${percent(progress.fraction)} %)`);
    if (progress.eta_seconds != null) parts.push(`about ${aboutTime(progress.eta_seconds)} left`);
    document.getElementById("progress-text").textContent = parts.join(" · ");
    const bar = document.getElementById("progress-bar");
    if (progress.fraction != null && progress.stage !== "queued") bar.value = progress.fraction;
    else if (!progress.seconds_done) bar.removeAttribute("value");  // not started: indeterminate
    const note = document.getElementById("progress-note");
    note.textContent = progress.note;
    note.hidden = !progress.note;
  }

  // The segments from index `from` on are now `segments` (consumers.py).
  function showPartial(from, segments) {
    if (!list || list.dataset.partial !== "1") return;
    rows.slice(from).forEach((row) => row.remove());
    rows = rows.slice(0, from);
    starts = starts.slice(0, from);
    const fragment = document.createDocumentFragment();
    for (const segment of segments) {
      const row = segmentRow(segment, false);
      rows.push(row);
      starts.push(Number(segment.start));
      fragment.appendChild(row);
    }
    list.appendChild(fragment);
    if (currentRow >= rows.length) currentRow = -1;
    list.dataset.count = rows.length;
  }

  // The job finished: the finished page's head and body replace these, in place.
  async function showOutcome() {
    await swapIn(() => { document.body.dataset.transcript = "final"; });
  }

  // The page as the server has it now (the finished job, a new version): its head and body
  // replace these, in place; the player keeps playing and the reader keeps their place.
  // `then` runs in the same task as the swap, so nothing sees the one without the other.
  async function swapIn(then) {
    let fresh;
    try {
      const response = await fetch(location.pathname, { headers: { Accept: "text/html" } });
      if (!response.ok) throw new Error(`HTTP ${response.status}`);
      fresh = new DOMParser().parseFromString(await response.text(), "text/html");
    } catch (err) {
      location.reload();
      return;
    }
    const anchor = readingPlace();
    for (const part of [head, body]) part.replaceChildren(...fresh.getElementById(part.id).childNodes);
    localizeTimes(head);
    localizeTimes(body);
    wire();
    keepReadingPlace(anchor);
    markCurrent(rowAt(player.currentTime), false);
    if (list) list.dataset.ready = "1";
    then?.();
    loadRest();
  }

  // The first segment the reader sees below the player, and where on the screen it is.
  function readingPlace() {
    if (window.scrollY === 0) return null;  // at the top: stay there
    const below = player.closest(".player-bar").getBoundingClientRect().bottom;
    const row = rows.find((r) => r.getBoundingClientRect().bottom > below);
    return row ? { start: Number(row.dataset.start), top: row.getBoundingClientRect().top } : null;
  }

  // Scroll so that the segment nearest that time is where that segment was.
  function keepReadingPlace(anchor) {
    if (!anchor || !rows.length) return;
    let best = 0;
    starts.forEach((start, i) => { if (Math.abs(start - anchor.start) < Math.abs(starts[best] - anchor.start)) best = i; });
    window.scrollBy(0, rows[best].getBoundingClientRect().top - anchor.top);
  }

  // ---------------------------------------------------------------- start
  wire();
  performance.mark("transcript-ready");
  if (list) list.dataset.ready = "1";  // wired up: clicks, keys and follow-along work from here on

  const moment = /#t=([\d.]+)/.exec(location.hash);
  const showMoment = () => {
    const at = Number(moment[1]);
    const index = rowAt(at);
    player.addEventListener("loadedmetadata", () => { player.currentTime = at; }, { once: true });
    if (player.readyState >= 1) player.currentTime = at;
    if (index >= 0) { markCurrent(index, false); rows[index].scrollIntoView({ block: "center" }); }
  };
  loadRest().then(() => { if (moment && rowAt(Number(moment[1])) !== currentRow) showMoment(); });
  if (moment) showMoment();
})();

// A form that asks first (delete): the question is in its data-confirm attribute, so the
// page needs no inline script under the Content-Security-Policy.
document.querySelectorAll("form[data-confirm]").forEach((form) => {
  form.addEventListener("submit", (event) => {
    if (!window.confirm(form.dataset.confirm)) event.preventDefault();
  });
});
