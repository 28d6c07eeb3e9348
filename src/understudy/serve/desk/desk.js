// The review desk. Texts in the queue are untrusted: they only ever go in with textContent.
"use strict";

const HEADERS = { "x-understudy-desk": "1", "Content-Type": "application/json" };
const PAGE = 100; // items fetched at a time; more are fetched when the local list runs out

const state = { items: [], labels: [], index: 0, pending: 0, decided: 0, busy: false };
const $ = (id) => document.getElementById(id);

class SessionEnded extends Error {}

async function api(path, options = {}) {
  const response = await fetch(path, { credentials: "same-origin", ...options });
  if (response.status === 401) throw new SessionEnded();
  let body = null;
  try {
    body = await response.json();
  } catch (e) {
    body = null;
  }
  if (!response.ok) {
    const message = (body && body.error && body.error.message) || `the server answered ${response.status}`;
    const err = new Error(message);
    err.status = response.status;
    throw err;
  }
  return body;
}

function backToLogin() {
  window.location.assign("/review/login?ended=1");
}

function showError(message) {
  const el = $("error");
  el.textContent = message;
  el.hidden = !message;
}

function say(message) {
  $("status").textContent = message;
}

function percent(p) {
  return `${(p * 100).toFixed(1)}%`;
}

async function load() {
  const body = await api(`/v1/review?limit=${PAGE}`);
  state.items = body.items;
  state.labels = body.labels;
  state.pending = body.pending;
  state.decided = body.decided;
  state.index = Math.min(state.index, Math.max(0, state.items.length - 1));
  renderLabels();
  render();
}

function renderLabels() {
  const box = $("labels");
  box.replaceChildren();
  state.labels.forEach((label, i) => {
    const button = document.createElement("button");
    button.type = "button";
    button.className = "label";
    button.dataset.label = label;
    button.append(document.createTextNode(label));
    if (i < 9) {
      const key = document.createElement("kbd");
      key.textContent = String(i + 1);
      button.append(" ", key);
      button.setAttribute("aria-keyshortcuts", String(i + 1));
    }
    button.addEventListener("click", () => decide(label));
    box.append(button);
  });
}

function render() {
  $("pending").textContent = String(state.pending);
  $("decided").textContent = String(state.decided);
  const item = state.items[state.index];
  $("item").hidden = !item;
  $("empty").hidden = Boolean(item);
  renderQueue();
  if (!item) return;
  $("item-id").textContent = `#${item.id}`;
  $("position").textContent = `(${state.index + 1} of ${state.items.length} loaded)`;
  $("text").textContent = item.text;
  $("suggested").textContent = item.suggested;
  $("confidence").textContent = percent(item.confidence);
  const rows = $("probs").tBodies[0];
  rows.replaceChildren();
  const probs = item.probs || {};
  for (const label of state.labels) {
    const p = Number(probs[label] || 0);
    const row = rows.insertRow();
    const name = row.insertCell();
    name.textContent = label;
    const bar = document.createElement("meter");
    bar.min = 0;
    bar.max = 1;
    bar.value = p;
    bar.setAttribute("aria-label", `${label} probability`);
    row.insertCell().append(bar);
    row.insertCell().textContent = percent(p);
    if (label === item.suggested) row.className = "suggested";
  }
  for (const button of $("labels").children) {
    button.classList.toggle("suggested", button.dataset.label === item.suggested);
  }
}

function renderQueue() {
  const list = $("queue");
  list.replaceChildren();
  state.items.forEach((item, i) => {
    const entry = document.createElement("li");
    const button = document.createElement("button");
    button.type = "button";
    button.className = "queue-item";
    button.dataset.id = String(item.id);
    if (i === state.index) button.setAttribute("aria-current", "true");
    const text = document.createElement("span");
    text.className = "preview";
    text.textContent = item.text;
    const meta = document.createElement("span");
    meta.className = "muted";
    meta.textContent = `${item.suggested} · ${percent(item.confidence)}`;
    button.append(text, meta);
    button.addEventListener("click", () => {
      state.index = i;
      render();
    });
    entry.append(button);
    list.append(entry);
  });
}

async function decide(label) {
  const item = state.items[state.index];
  if (!item || state.busy) return;
  state.busy = true;
  showError("");
  try {
    await api(`/v1/review/${item.id}`, {
      method: "POST",
      headers: HEADERS,
      body: JSON.stringify({ label: label, correct: false }),
    });
    const how = label === item.suggested ? "accepted" : "corrected to";
    say(`Item #${item.id} ${how} “${label}”.`);
    state.pending = Math.max(0, state.pending - 1);
    state.decided += 1;
    removeCurrent();
  } catch (err) {
    if (err instanceof SessionEnded) return backToLogin();
    if (err.status === 404 || err.status === 409) {
      // someone else decided it, or it was purged: it is not waiting any more either way
      say(`Item #${item.id} is no longer waiting (${err.message}).`);
      removeCurrent();
    } else {
      showError(`Could not save the decision for item #${item.id}: ${err.message}`);
    }
  } finally {
    state.busy = false;
  }
  if (state.items.length === 0 && state.pending > 0) await refresh();
}

function removeCurrent() {
  state.items.splice(state.index, 1);
  state.index = Math.min(state.index, Math.max(0, state.items.length - 1));
  render();
}

function move(step) {
  if (state.items.length === 0) return;
  state.index = (state.index + step + state.items.length) % state.items.length;
  render();
}

function skip() {
  const item = state.items[state.index];
  if (!item) return;
  say(`Skipped item #${item.id}: it stays in the queue.`);
  move(1);
}

async function refresh() {
  try {
    await load();
    showError("");
  } catch (err) {
    if (err instanceof SessionEnded) return backToLogin();
    showError(`Could not load the queue: ${err.message}`);
  }
}

async function logout() {
  try {
    await fetch("/review/logout", { method: "POST", headers: HEADERS, credentials: "same-origin" });
  } finally {
    window.location.assign("/review/login");
  }
}

function onKey(event) {
  if (event.ctrlKey || event.metaKey || event.altKey) return;
  const target = event.target;
  if (target.closest && target.closest("input, textarea, select")) return;
  // Enter or space on a focused button or link is that control's own click, not a shortcut.
  const onControl = target.closest && target.closest("button, a");
  if (onControl && (event.key === "Enter" || event.key === " ")) return;
  const item = state.items[state.index];
  let handled = true;
  if ((event.key === "Enter" || event.key === "a") && item) decide(item.suggested);
  else if (/^[1-9]$/.test(event.key) && Number(event.key) <= state.labels.length) {
    decide(state.labels[Number(event.key) - 1]);
  } else if (event.key === "j" || event.key === "ArrowDown" || event.key === "ArrowRight") move(1);
  else if (event.key === "k" || event.key === "ArrowUp" || event.key === "ArrowLeft") move(-1);
  else if (event.key === "s") skip();
  else if (event.key === "r") refresh();
  else handled = false;
  if (handled) event.preventDefault();
}

async function start() {
  $("accept").addEventListener("click", () => {
    const item = state.items[state.index];
    if (item) decide(item.suggested);
  });
  $("skip").addEventListener("click", skip);
  $("refresh").addEventListener("click", refresh);
  $("logout").addEventListener("click", logout);
  document.addEventListener("keydown", onKey);
  try {
    const me = await api("/review/me");
    $("model").textContent = me.model;
    $("who").textContent = `Logged in as ${me.reviewer}`;
    document.title = `Review desk · ${me.model}`;
  } catch (err) {
    if (err instanceof SessionEnded) return backToLogin();
    showError(`Could not reach the server: ${err.message}`);
    return;
  }
  await refresh();
  document.body.dataset.ready = "1"; // for the browser test: the first load is done
}

start();
