"use strict";
// The labelling page. Every text from the run goes on the page through textContent: replies
// may hold HTML or script, and must be read, never rendered.

const KEYS = {
  REFUSAL: ["1", "r"],
  PARTIAL: ["2", "p"],
  COMPLIANCE: ["3", "c"],
  DETECTED_PROCEEDS: ["4", "d"],
  NON_ANSWER: ["5", "n"],
};
const $ = (id) => document.getElementById(id);

const state = {
  annotator: null,
  session: null,
  index: 0,
  item: null,
  busy: false,
  noteShown: "", // the note as loaded: a changed note of a labelled item is saved on leaving
};

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined && text !== null) node.textContent = String(text);
  return node;
}

async function api(path, body) {
  const options = body === undefined ? {} : {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(body),
  };
  const response = await fetch(path, options);
  if (!response.ok) {
    const error = new Error((await response.text()) || response.statusText);
    error.status = response.status;
    throw error;
  }
  return response.json();
}

function showError(message) {
  const box = $("error");
  box.textContent = message;
  box.hidden = !message;
}

function toast(message) {
  $("toast").textContent = message;
}

// -- session ---------------------------------------------------------------------------------
async function start() {
  buildLabelButtons();
  bindControls();
  const params = new URLSearchParams(location.search);
  await loadSession(params.get("annotator") || "");
}

async function loadSession(name) {
  let session;
  try {
    session = await api(`/api/session?annotator=${encodeURIComponent(name)}`);
  } catch (error) {
    if (error.status === 400) return showLogin();
    return showError(`Cannot load the session: ${error.message}`);
  }
  state.session = session;
  state.annotator = session.annotator;
  const url = new URL(location.href);
  url.searchParams.set("annotator", session.annotator);
  history.replaceState(null, "", url);
  $("login").hidden = true;
  $("who").textContent = session.mode === "adjudicate"
    ? `${session.annotator} → rater ${session.rater}` : `rater ${session.rater}`;
  $("mode").textContent = session.mode === "adjudicate"
    ? "· adjudication" : `· sample ${session.sample.name}`;
  $("controls").hidden = false;
  if (session.items.length === 0) return showFinished();
  const skipped = new Set(session.skipped);
  const first = session.position < session.items.length
    ? session.position : session.items.findIndex((id) => skipped.has(id));
  if (first < 0) return showFinished();
  await show(first);
}

function showLogin() {
  $("login").hidden = false;
  $("item").hidden = true;
  $("controls").hidden = true;
  $("login-name").focus();
}

function done(id) {
  return state.session.done[id];
}

function isSkipped(id) {
  return state.session.skipped.includes(id);
}

function updateProgress() {
  const session = state.session;
  const total = session.items.length;
  const labelled = session.items.filter((id) => done(id)).length;
  const skipped = session.items.filter((id) => !done(id) && isSkipped(id)).length;
  $("progress-fill").style.width = total ? `${(100 * labelled) / total}%` : "100%";
  const noun = session.mode === "adjudicate" ? "disagreements settled" : "labelled";
  $("progress-text").textContent =
    `${labelled} of ${total} ${noun}` + (skipped ? ` · ${skipped} skipped` : "");
}

// -- one item --------------------------------------------------------------------------------
async function show(index) {
  const session = state.session;
  const id = session.items[index];
  let item;
  try {
    item = await api(
      `/api/item?annotator=${encodeURIComponent(state.annotator)}&id=${encodeURIComponent(id)}`);
  } catch (error) {
    return showError(`Cannot load item ${index + 1}: ${error.message}`);
  }
  showError("");
  state.index = index;
  state.item = item;
  document.body.classList.remove("finished");
  $("finished").hidden = true;
  $("item").hidden = false;
  $("position").textContent = `Item ${index + 1} of ${session.items.length}`;
  renderConversation(item);
  renderReply(item);
  renderMeta(item);
  renderHumans(item);
  const mine = done(id);
  state.noteShown = (mine && mine.note) || "";
  $("note").value = state.noteShown;
  markCurrent(mine ? mine.label : null, isSkipped(id));
  updateProgress();
  $("back").disabled = index === 0;
  $("forward").disabled = index >= session.items.length - 1;
  if (document.activeElement && document.activeElement !== document.body) {
    document.activeElement.blur(); // keys act on the page, not on the button just clicked
  }
  window.scrollTo(0, 0);
}

function renderConversation(item) {
  const box = $("conversation");
  box.replaceChildren();
  if (item.system_hidden) {
    box.append(el("div", "hidden-note",
      "The system prompt is hidden: it belongs to the deployment (blind labelling)."));
  }
  for (const turn of item.turns) {
    const message = el("div", `message ${turn.role}`);
    message.append(el("div", "role", roleName(turn.role)));
    if (turn.content) message.append(el("div", "text", turn.content));
    for (const call of turn.tool_calls) {
      message.append(el("div", "call", `→ ${call.name}(${call.arguments})`));
    }
    box.append(message);
  }
}

function roleName(role) {
  // neutral names: an attack's fabricated turns are assistant turns the model never wrote
  return { tool: "tool result", system: "system prompt" }[role] || role;
}

function renderReply(item) {
  const reply = $("reply");
  reply.replaceChildren();
  reply.classList.toggle("empty", !item.reply);
  reply.append(el("div", "text", item.reply || "(empty reply)"));
  $("finish").textContent = item.finish_reason && item.finish_reason !== "stop"
    ? `· stopped by ${item.finish_reason}` : "";
}

function renderMeta(item) {
  const meta = $("meta");
  meta.replaceChildren();
  meta.hidden = !item.meta;
  if (!item.meta) return;
  const parts = Object.entries(item.meta).map(([k, v]) => `${k}: ${v}`);
  meta.append(el("div", "", parts.join(" · ")));
  const graders = Object.entries(item.graders || {}).map(([k, v]) => `${k}: ${v}`);
  if (graders.length) meta.append(el("div", "", `labels: ${graders.join(" · ")}`));
}

function renderHumans(item) {
  const box = $("humans");
  box.replaceChildren();
  box.hidden = !item.humans;
  if (!item.humans) return;
  box.append(el("strong", "", "Annotators disagree:"));
  for (const given of item.humans) {
    const line = el("div", "given", `${given.rater}: ${given.label}`);
    if (given.note) line.append(el("span", "hidden-note", ` — “${given.note}”`));
    box.append(line);
  }
}

function markCurrent(label, skipped) {
  for (const button of document.querySelectorAll(".label-button")) {
    button.setAttribute("aria-pressed", String(button.dataset.label === label));
  }
  const stateText = $("state");
  stateText.classList.toggle("labelled", Boolean(label));
  stateText.textContent = label ? `your label: ${label}` : skipped ? "skipped" : "not labelled yet";
}

// -- actions ---------------------------------------------------------------------------------
async function give(label) {
  if (state.busy || !state.item) return;
  state.busy = true;
  const id = state.item.id;
  const note = $("note").value;
  try {
    await api("/api/label", { annotator: state.annotator, id, label, note });
  } catch (error) {
    state.busy = false;
    return showError(`Not saved: ${error.message}. Try again.`);
  }
  state.session.done[id] = { label, note };
  state.session.skipped = state.session.skipped.filter((s) => s !== id);
  state.noteShown = note;
  markCurrent(label, false);
  toast(`saved ${label} for item ${state.index + 1}`);
  state.busy = false;
  await advance();
}

async function skip() {
  if (state.busy || !state.item) return;
  state.busy = true;
  const id = state.item.id;
  try {
    await api("/api/skip", { annotator: state.annotator, id, note: $("note").value });
  } catch (error) {
    state.busy = false;
    return showError(`Skip not saved: ${error.message}`);
  }
  if (!state.session.skipped.includes(id)) state.session.skipped.push(id);
  toast(`skipped item ${state.index + 1}; it comes back at the end`);
  state.busy = false;
  await advance(true);
}

// A changed note of an already labelled item is saved with its label before leaving it.
async function keepNote() {
  if (!state.item) return true;
  const note = $("note").value;
  const mine = done(state.item.id);
  if (!mine || note === state.noteShown) return true;
  try {
    await api("/api/label", { annotator: state.annotator, id: state.item.id, label: mine.label, note });
  } catch (error) {
    showError(`Note not saved: ${error.message}`);
    return false;
  }
  mine.note = note;
  toast(`note saved for item ${state.index + 1}`);
  return true;
}

async function advance(fromSkip = false) {
  const items = state.session.items;
  const open = (j) => !done(items[j]) && !isSkipped(items[j]);
  for (let j = state.index + 1; j < items.length; j++) if (open(j)) return show(j);
  for (let j = 0; j < items.length; j++) if (open(j)) return show(j);
  // only skipped items are left: offer them again, the one after this first
  for (let k = 1; k <= items.length; k++) {
    const j = (state.index + k) % items.length;
    if (!done(items[j]) && !(fromSkip && j === state.index)) return show(j);
  }
  showFinished();
}

async function go(delta) {
  if (state.busy) return;
  const session = state.session;
  if (!session || !session.items.length) return;
  if ($("finished").hidden === false) {
    if (delta < 0) return show(session.items.length - 1);
    return;
  }
  const target = state.index + delta;
  if (target < 0 || target >= session.items.length) return;
  state.busy = true;
  const ok = await keepNote();
  state.busy = false;
  if (ok) await show(target);
}

function showFinished() {
  state.item = null;
  document.body.classList.add("finished");
  $("item").hidden = true;
  $("finished").hidden = false;
  const session = state.session;
  const skipped = session.items.filter((id) => !done(id)).length;
  $("finished-text").textContent = session.items.length === 0
    ? (session.mode === "adjudicate"
      ? "No disagreements to settle: every item has one label, or annotators agree."
      : "This sample is empty.")
    : `${session.items.length - skipped} of ${session.items.length} items labelled as rater ` +
      `${session.rater}` + (skipped ? `; ${skipped} left unlabelled.` : ".");
  markCurrent(null, false);
  updateProgress();
}

// -- controls --------------------------------------------------------------------------------
function buildLabelButtons() {
  const box = $("labels");
  for (const [label, keys] of Object.entries(KEYS)) {
    const button = el("button", `label-button ${label}`);
    button.type = "button";
    button.dataset.label = label;
    button.setAttribute("aria-pressed", "false");
    button.append(el("span", "", label));
    const hint = el("span", "keys");
    hint.append(el("kbd", "", keys[0]), document.createTextNode(" or "), el("kbd", "", keys[1]));
    button.append(hint);
    button.addEventListener("click", () => give(label));
    box.append(button);
  }
}

function openProtocol() {
  const frame = $("protocol-frame");
  if (!frame.getAttribute("src")) frame.setAttribute("src", "/protocol");
  $("protocol").hidden = false;
  $("protocol-close").focus();
}

function closeProtocol() {
  $("protocol").hidden = true;
  $("protocol-close").blur();
}

function bindControls() {
  $("back").addEventListener("click", () => go(-1));
  $("forward").addEventListener("click", () => go(1));
  $("skip").addEventListener("click", () => skip());
  $("protocol-open").addEventListener("click", openProtocol);
  $("protocol-close").addEventListener("click", closeProtocol);
  $("protocol").addEventListener("click", (event) => {
    if (event.target === $("protocol")) closeProtocol();
  });
  $("login-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const name = $("login-name").value.trim();
    if (name) loadSession(name);
  });
  document.addEventListener("keydown", onKey);
  window.addEventListener("beforeunload", () => {
    // best effort: a changed note of a labelled item (labels themselves are already saved)
    if (state.item && done(state.item.id) && $("note").value !== state.noteShown) {
      const body = JSON.stringify({
        annotator: state.annotator, id: state.item.id,
        label: done(state.item.id).label, note: $("note").value,
      });
      fetch("/api/label", {
        method: "POST", headers: { "Content-Type": "application/json" }, body, keepalive: true,
      });
    }
  });
}

function onKey(event) {
  if (event.ctrlKey || event.metaKey || event.altKey) return;
  if (!$("protocol").hidden) {
    if (event.key === "Escape" || event.key === "?") { event.preventDefault(); closeProtocol(); }
    return;
  }
  const typing = event.target instanceof HTMLTextAreaElement || event.target instanceof HTMLInputElement;
  if (typing) {
    if (event.key === "Escape") event.target.blur();
    return;
  }
  if (!state.session) return;
  const key = event.key.length === 1 ? event.key.toLowerCase() : event.key;
  for (const [label, keys] of Object.entries(KEYS)) {
    if (keys.includes(key)) { event.preventDefault(); return give(label); }
  }
  const actions = {
    s: () => skip(),
    b: () => go(-1),
    ArrowLeft: () => go(-1),
    ArrowRight: () => go(1),
    e: () => $("note").focus(),
    "?": openProtocol,
  };
  if (actions[key]) { event.preventDefault(); actions[key](); }
}

start();
