// The live dashboard (staff): live calls, online users and today's totals, kept
// up to date from the WebSocket's events.
import { SignalingClient } from "./signaling.js";

const $ = (id) => document.getElementById(id);
const me = JSON.parse($("signed-in-user").textContent);
const csrfToken = $("dashboard").dataset.csrf;

const client = new SignalingClient("/ws/", { login: { user: me, meta: { agent: "dashboard" } } });
const liveCalls = new Map(); // call_id -> {call_id, caller, callee, state, started_at, answered_at}
const endedCalls = new Set(); // ids seen hung up: a late API answer must not bring them back
// Events applied so far; a call records the count at its last event (`changedAt`). An API
// list fetched before an event is older than it: it must neither drop nor undo that call.
let eventsApplied = 0;
const online = new Map(); // user -> Set of session ids

window.dashboard = { client, liveCalls, online }; // for tests and the console

client.on("status", (status) => {
  $("connection").textContent = status;
  $("connection").dataset.status = status;
});
let subscribed = false;
client.on("login", () => subscribed && loadAll()); // after a reconnect (subscriptions renewed)

function loadAll() {
  loadLiveCalls();
  loadOnlineUsers();
  loadStats();
}
client.on("event", onEvent);

// ---------------------------------------------------------------- events

function onEvent({ class: cls, subclass, type, obj_id: id, body }) {
  if (cls === "core" && subclass === "call" && type === "start") {
    // A new call (staff-only event): show it now, details from the API.
    if (!endedCalls.has(id) && !liveCalls.has(id)) {
      liveCalls.set(id, { call_id: id, caller: body.caller, callee: body.callee, state: "ringing",
                          started_at: new Date().toISOString(), answered_at: null,
                          changedAt: ++eventsApplied });
      renderCalls();
    }
    soon(loadStats);
  } else if (cls === "media" && subclass === "call") {
    const call = liveCalls.get(id);
    if (type === "hangup") {
      endedCalls.add(id);
      liveCalls.delete(id);
      renderCalls();
      soon(loadStats);
    } else if (!call) {
      soon(loadLiveCalls); // a call that started before we looked
    } else if (type === "answer") {
      Object.assign(call, { state: "answered", answered_at: new Date().toISOString(),
                            changedAt: ++eventsApplied });
      renderCalls();
    }
  } else if (cls === "core" && subclass === "registration") {
    const sessions = online.get(body.user) || new Set();
    if (type === "login") sessions.add(body.session_id);
    if (type === "logout") sessions.delete(body.session_id);
    if (sessions.size) online.set(body.user, sessions);
    else online.delete(body.user);
    renderUsers();
  }
}

/** Run `fn` once a short while after the last of several calls (coalesces bursts). */
const timers = new Map();
function soon(fn, ms = 250) {
  clearTimeout(timers.get(fn));
  timers.set(fn, setTimeout(fn, ms));
}

// ---------------------------------------------------------------- REST API

async function getJson(url) {
  const response = await fetch(url, { headers: { Accept: "application/json" } });
  if (!response.ok) throw new Error(`${url}: HTTP ${response.status}`);
  return response.json();
}

async function loadLiveCalls() {
  const asOf = eventsApplied;
  const calls = [];
  try {
    for (let url = "/api/calls/live/"; url; ) {
      const page = await getJson(url);
      calls.push(...page.results);
      url = page.next;
    }
  } catch (err) {
    console.warn(err);
    return;
  }
  const seen = new Set();
  const newerThanList = (call) => (call?.changedAt ?? 0) > asOf;
  for (const call of calls) {
    if (endedCalls.has(call.call_id)) continue;
    seen.add(call.call_id);
    const known = liveCalls.get(call.call_id);
    liveCalls.set(call.call_id, newerThanList(known) ? { ...call, ...known } : { ...known, ...call });
  }
  // Calls that are gone from the API ended while we were not looking (unless the list
  // was fetched before we heard of them).
  for (const [id, call] of liveCalls) if (!seen.has(id) && !newerThanList(call)) liveCalls.delete(id);
  renderCalls();
}

async function loadStats() {
  const midnight = new Date();
  midnight.setHours(0, 0, 0, 0);
  try {
    const stats = await getJson(`/api/stats/?since=${encodeURIComponent(midnight.toISOString())}`);
    $("stat-calls").textContent = stats.calls ?? "–";
    $("stat-answer-rate").textContent =
      stats.answer_rate == null ? "–" : `${Math.round(stats.answer_rate * 100)} %`;
    $("stat-avg-duration").textContent =
      stats.avg_duration == null ? "–" : formatSeconds(stats.avg_duration);
  } catch (err) {
    console.warn(err);
  }
}

async function hangUp(id, button) {
  button.disabled = true;
  const response = await fetch(`/api/calls/${encodeURIComponent(id)}/hangup/`, {
    method: "POST",
    headers: { "X-CSRFToken": csrfToken, "Content-Type": "application/json" },
    body: JSON.stringify({ reason: `Hung up by ${me}` }),
  });
  // 202: the hangup event removes the row; 409: it had already ended.
  if (response.status === 409 || response.status === 404) {
    endedCalls.add(id);
    liveCalls.delete(id);
    renderCalls();
  } else if (response.status !== 202) {
    button.disabled = false;
  }
}

async function loadOnlineUsers() {
  try {
    const users = await client.listUsers();
    online.clear();
    for (const [user, sessions] of Object.entries(users)) online.set(user, new Set(sessions));
  } catch (err) {
    console.warn(err);
  }
  renderUsers();
}

// ---------------------------------------------------------------- rendering

function formatSeconds(seconds) {
  seconds = Math.max(0, Math.round(seconds));
  const m = Math.floor(seconds / 60);
  return m ? `${m} min ${seconds % 60} s` : `${seconds} s`;
}

function renderCalls() {
  const body = $("live-calls").tBodies[0];
  body.replaceChildren();
  const calls = [...liveCalls.values()].sort((a, b) => a.started_at.localeCompare(b.started_at));
  for (const call of calls) {
    const row = body.insertRow();
    row.dataset.callId = call.call_id;
    row.dataset.state = call.state;
    const cells = [
      call.call_id.slice(0, 8),
      call.caller?.user ?? "",
      call.callee,
      call.state,
      new Date(call.started_at).toLocaleTimeString(),
      "",
    ];
    for (const text of cells) row.insertCell().textContent = text;
    row.cells[0].title = call.call_id;
    row.cells[3].className = "state";
    row.cells[5].className = "duration";
    const button = document.createElement("button");
    button.className = "bad hangup";
    button.textContent = "Hang up";
    button.onclick = () => hangUp(call.call_id, button);
    row.insertCell().append(button);
  }
  $("no-live-calls").hidden = calls.length > 0;
  $("stat-live-calls").textContent = calls.length;
  tickDurations();
}

function tickDurations() {
  for (const row of $("live-calls").tBodies[0].rows) {
    const call = liveCalls.get(row.dataset.callId);
    if (!call) continue;
    const since = call.answered_at || call.started_at;
    const text = formatSeconds((Date.now() - Date.parse(since)) / 1000);
    row.cells[5].textContent = call.answered_at ? text : `ringing ${text}`;
  }
}

function renderUsers() {
  const list = $("online-users");
  list.replaceChildren();
  for (const user of [...online.keys()].sort()) {
    const item = document.createElement("li");
    item.dataset.user = user;
    const count = online.get(user).size;
    item.textContent = `${user}${count > 1 ? ` (${count} sessions)` : ""}`;
    list.append(item);
  }
  $("stat-online-users").textContent = online.size;
}

// ---------------------------------------------------------------- start

setInterval(tickDurations, 1000);
setInterval(loadStats, 10000);
setInterval(loadLiveCalls, 15000); // a safety net: events are the real source

async function start() {
  try {
    // Staff may subscribe to everything: every call's events, logins and logouts.
    await client.connect();
    await client.subscribe({ class: "media", subclass: "call" });
    await client.subscribe({ class: "core", subclass: "registration" });
    await client.subscribe({ class: "core", subclass: "call" });
    subscribed = true;
    $("dashboard").dataset.ready = "true"; // subscribed: every change from now on shows
    loadAll();
  } catch (err) {
    console.warn("dashboard: cannot connect", err);
    client.close();
    setTimeout(start, 3000);
  }
}
start();
