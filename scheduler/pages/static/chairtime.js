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

// The board: drag a block to another time or chair lane; the move form is sent and the
// independent checker judges it (a refusal comes back with its reasons).
// The drawing may be shown smaller than its own size (a narrow screen): screen pixels per
// drawing unit.
function shown(svg) {
  const box = svg.viewBox.baseVal;
  return box && box.width ? svg.getBoundingClientRect().width / box.width : 1;
}

function dragMoves(svg) {
  const scale = parseFloat(svg.dataset.scale), lw = parseFloat(svg.dataset.lw);
  const rowH = parseFloat(svg.dataset.row), top = parseFloat(svg.dataset.top);
  const slot = parseInt(svg.dataset.slot, 10);
  const [oh, om] = svg.dataset.opens.split(":").map(Number);
  const form = document.getElementById("drag-move");
  if (!form) { return; }
  const lanes = Array.from(svg.querySelectorAll("g.lane")).map((g) => g.dataset.room);
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
      const k = shown(svg);
      if (moved) { block.classList.add("dragging"); block.setAttribute("transform", `translate(${dx / k} ${dy / k})`); }
    });
    block.addEventListener("pointerup", (e) => {
      if (!start) { return; }
      const dx = e.clientX - start.x, dy = e.clientY - start.y;
      start = null;
      if (!moved) { return; }
      e.preventDefault();
      const rect = svg.getBoundingClientRect(), k = shown(svg);
      const lane = Math.floor(((e.clientY - rect.top) / k - top) / rowH);
      const minutes = parseFloat(block.dataset.x) + dx / k / scale;
      const at = Math.round(minutes / slot) * slot + oh * 60 + om;
      const hh = String(Math.floor(at / 60)).padStart(2, "0"), mm = String(at % 60).padStart(2, "0");
      form.action = `/schedules/${form.dataset.schedule}/appointments/${block.dataset.id}/move`;
      form.elements.date.value = svg.dataset.day;
      form.elements.time.value = `${hh}:${mm}`;
      form.elements.room.value = lanes[lane] || block.dataset.room;
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

document.addEventListener("DOMContentLoaded", () => {
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
