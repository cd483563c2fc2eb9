// Chairtime pages: small progressive enhancements; every action also works without this file.
"use strict";
document.documentElement.classList.add("js");

// A re-plan's first answer, while the job improves on it: accept it, or wait.
function showFirst(first) {
  const line = document.getElementById("job-first");
  if (!line) { return; }
  line.hidden = !first;
  if (!first) { line.replaceChildren(); return; }
  const accept = document.createElement("a");
  accept.href = first.href; accept.textContent = "accept it";
  line.replaceChildren(
    `First answer ready: ${first.placed} of ${first.wanted} sessions placed, ` +
    `${first.moved} appointments moved — `, accept, ", or wait for the improved one.");
}

// A job's page: poll its progress and go on to the result when it is done.
function watchJob(section) {
  const id = section.dataset.job;
  const status = document.getElementById("job-status");
  const list = document.getElementById("job-progress");
  const bar = document.getElementById("job-bar");
  const words = { queued: "Waiting for a free worker…", running: "Working…", done: "Done.",
                  cancelled: "Cancelled." };
  async function tick() {
    let data;
    try {
      const answer = await fetch(`/jobs/${id}/progress.json`, { credentials: "same-origin" });
      if (!answer.ok) { setTimeout(tick, 2000); return; }
      data = await answer.json();
    } catch (e) { setTimeout(tick, 2000); return; }
    status.dataset.status = data.status;
    status.textContent = data.status === "failed" ? `Failed: ${data.error}` : words[data.status] || data.status;
    list.replaceChildren();
    showFirst(data.first);
    for (const [key, value] of Object.entries(data.progress || {})) {
      if (value !== null && typeof value === "object") { continue; }
      const dt = document.createElement("dt"); dt.textContent = key;
      const dd = document.createElement("dd"); dd.textContent = value;
      list.append(dt, dd);
    }
    const p = data.progress || {};
    if (p.objective != null && p.bound) { bar.value = Math.round(100 * p.objective / p.bound); }
    if (p.done != null && p.total) { bar.value = Math.round(100 * p.done / p.total); }
    if (data.next) { window.location.assign(data.next); return; }
    if (data.status === "queued" || data.status === "running") { setTimeout(tick, 1000); }
    else { bar.value = 100; }
  }
  const done = ["done", "failed", "cancelled"].includes(status.dataset.status);
  if (!done) { setTimeout(tick, 500); }
}

// The board: drag a block to another time or chair lane (snapped to the slot grid, 5 minutes
// on the demo); the independent checker judges the move. On a draft the move form is sent (a
// refusal comes back on the appointment's page with its reasons). On the live schedule the
// move is sent in the background: accepted, the board of the new published version opens (its
// Undo at hand); refused, the block goes back where it was and the checker's words, in names,
// float at the foot of the window. The keyboard way is the block's link: its page has a move form.
// The drawing may be shown smaller than its own size (a narrow screen): screen pixels per
// drawing unit.
function shown(svg) {
  const box = svg.viewBox.baseVal;
  return box && box.width ? svg.getBoundingClientRect().width / box.width : 1;
}

function clockOf(at) {
  return `${String(Math.floor(at / 60)).padStart(2, "0")}:${String(at % 60).padStart(2, "0")}`;
}

function say(box, lines, kind) {
  box.replaceChildren();
  for (const line of lines) {
    const p = document.createElement("p"); p.textContent = line; box.append(p);
  }
  if (kind === "refused") {  // it floats over the board: closed by hand, or by the next drag
    const close = document.createElement("button");
    close.type = "button"; close.textContent = "Close";
    close.addEventListener("click", () => say(box, [], ""));
    box.append(close);
  }
  box.className = `drag-verdict no-print ${kind}`;
  box.hidden = lines.length === 0;
}

async function moveLive(form, block, verdict) {
  const answer = await fetch(`/live/appointments/${encodeURIComponent(block.dataset.id)}/move.json`,
                             { method: "POST", body: new FormData(form), credentials: "same-origin",
                               headers: { Accept: "application/json" } });
  let data = {};
  try { data = await answer.json(); } catch (e) { data = {}; }
  if (answer.ok) {
    const next = new URL(window.location.href);
    next.searchParams.set("schedule", data.schedule);
    next.searchParams.set("live", "1");
    next.searchParams.set("moved", data.moved);
    next.searchParams.delete("published");
    window.location.assign(next.toString());
    return;
  }
  block.removeAttribute("transform");
  const why = data.problems || [data.detail ? String(data.detail) : `The service answered ${answer.status}.`];
  const heads = { 409: "Not moved: someone changed the live schedule first. Reload the board and try again.",
                  422: "Not moved: the checker says" };
  const head = heads[answer.status] || "Not moved:";
  say(verdict, [head, ...why], "refused");
}

function dragMoves(svg) {
  const scale = parseFloat(svg.dataset.scale);
  const slot = parseInt(svg.dataset.slot, 10) || 5;
  const [oh, om] = svg.dataset.opens.split(":").map(Number);
  const form = document.getElementById("drag-move");
  if (!form) { return; }
  const live = form.dataset.live !== undefined;
  const hint = document.getElementById("drag-hint"), verdict = document.getElementById("drag-verdict");
  const lanes = Array.from(svg.querySelectorAll("g.lane"));
  // where a drop lands: the chair lane under the pointer (the block's own when none), the
  // start snapped to the slot grid
  function target(block, e, dx) {
    const k = shown(svg);
    const own = block.closest("g.lane, g.lane-video");
    let room = block.dataset.room, label = null;
    if (own && own.classList.contains("lane")) {
      for (const lane of lanes) {
        const box = lane.querySelector("rect.lane-bg").getBoundingClientRect();
        if (e.clientY >= box.top && e.clientY < box.bottom) {
          room = lane.dataset.room;
          label = lane.querySelector("text.lane-label").textContent;
        }
      }
    } else { room = ""; }
    const minutes = parseFloat(block.dataset.x) + dx / k / scale;
    const snapped = Math.round(minutes / slot) * slot;
    return { room, label, at: snapped + oh * 60 + om, shift: (snapped - parseFloat(block.dataset.x)) * scale };
  }
  for (const block of svg.querySelectorAll("a.appt")) {
    let start = null, moved = false;
    block.addEventListener("pointerdown", (e) => {
      if (e.button !== 0) { return; }
      start = { x: e.clientX, y: e.clientY }; moved = false;
      block.setPointerCapture(e.pointerId);
    });
    block.addEventListener("pointermove", (e) => {
      if (!start) { return; }
      const dx = e.clientX - start.x, dy = e.clientY - start.y;
      if (Math.abs(dx) + Math.abs(dy) > 6) { moved = true; }
      if (!moved) { return; }
      const k = shown(svg), to = target(block, e, dx);
      if (verdict && !verdict.hidden) { say(verdict, [], ""); }  // a new try: the last answer goes
      block.classList.add("dragging");
      block.setAttribute("transform", `translate(${to.shift} ${dy / k})`);
      if (hint) {
        hint.textContent = `→ ${clockOf(to.at)}${to.label ? " · " + to.label : ""}`;
        hint.hidden = false;
      }
    });
    block.addEventListener("pointerup", (e) => {
      if (!start) { return; }
      const dx = e.clientX - start.x;
      start = null;
      if (hint) { hint.hidden = true; }
      block.classList.remove("dragging");
      if (!moved) { return; }
      e.preventDefault();
      const to = target(block, e, dx);
      form.elements.date.value = svg.dataset.day;
      form.elements.time.value = clockOf(to.at);
      form.elements.room.value = to.room || "";
      if (live) {
        if (verdict) { say(verdict, [`Moving to ${clockOf(to.at)}${to.label ? " in " + to.label : ""}: asking the checker…`], "asking"); }
        moveLive(form, block, verdict).catch(() => {
          block.removeAttribute("transform");
          if (verdict) { say(verdict, ["Not moved: the service could not be reached. Try again."], "refused"); }
        });
        return;
      }
      form.action = `/schedules/${form.dataset.schedule}/appointments/${block.dataset.id}/move`;
      form.submit();
    });
    block.addEventListener("click", (e) => { if (moved) { e.preventDefault(); moved = false; } });
  }
}

// The board: a click on an empty stretch of a chair's lane asks "why not here?" for that slot.
function whyNotHere(svg) {
  const form = document.getElementById("drag-move");
  if (!form) { return; }
  const scale = parseFloat(svg.dataset.scale), lw = parseFloat(svg.dataset.lw);
  const slot = parseInt(svg.dataset.slot, 10);
  const [oh, om] = svg.dataset.opens.split(":").map(Number);
  for (const lane of svg.querySelectorAll("g.lane")) {
    const bg = lane.querySelector("rect.lane-bg");
    bg.addEventListener("click", (e) => {
      const rect = svg.getBoundingClientRect();
      const minutes = ((e.clientX - rect.left) / shown(svg) - lw) / scale;
      if (minutes < 0) { return; }
      const at = Math.floor(minutes / slot) * slot + oh * 60 + om;
      const hh = String(Math.floor(at / 60)).padStart(2, "0"), mm = String(at % 60).padStart(2, "0");
      const query = new URLSearchParams({ date: svg.dataset.day, time: `${hh}:${mm}`, room: lane.dataset.room });
      window.location.assign(`/schedules/${form.dataset.schedule}/unplaced?${query}`);
    });
  }
}

// A box that scrolls sideways says so: its right edge fades and a line below says "scroll"
// until the end is reached (nothing is cut without a cue).
function scrollCue(box) {
  const update = () => {
    const over = box.scrollWidth > box.clientWidth + 1;
    box.classList.toggle("overflows", over);
    box.classList.toggle("at-end", over && box.scrollLeft + box.clientWidth >= box.scrollWidth - 1);
  };
  box.addEventListener("scroll", update, { passive: true });
  window.addEventListener("resize", update);
  update();
}

// A link shown once (a patient's calendar feed, their own page): a Copy button beside it puts
// it on the clipboard and says "Copied" in the live region below the link (data-status).
// Without this file, or where the browser offers no clipboard (a page not served over https),
// the buttons stay hidden and the link stays selectable text.
function copyButtons() {
  if (!navigator.clipboard || !window.isSecureContext) { return; }
  for (const button of document.querySelectorAll("button[data-copy]")) {
    const field = document.getElementById(button.dataset.copy);
    const status = document.getElementById(button.dataset.status);
    if (!field) { continue; }
    button.hidden = false;
    button.addEventListener("click", async () => {
      const say = (text) => { if (status) { status.textContent = text; } };
      try {
        await navigator.clipboard.writeText(field.value);
        say(`Copied ${button.dataset.what || "the link"}.`);
      } catch (e) {
        field.focus(); field.select();
        say("Could not copy: the link is selected, copy it with Ctrl+C (or Cmd+C).");
      }
    });
  }
}

document.addEventListener("DOMContentLoaded", () => {
  copyButtons();
  for (const box of document.querySelectorAll(".scroll, .table-wrap")) { scrollCue(box); }
  const job = document.querySelector("section.job[data-job]");
  if (job) { watchJob(job); }
  for (const svg of document.querySelectorAll("svg.lanes[data-day]")) { dragMoves(svg); whyNotHere(svg); }
  for (const button of document.querySelectorAll("[data-print]")) {
    button.addEventListener("click", () => window.print());
  }
  for (const input of document.querySelectorAll("input.copy")) {
    input.addEventListener("focus", () => input.select());
  }
});
