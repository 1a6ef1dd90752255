// The demo page: who is online, call them, answer calls, recent calls.
import { SignalingClient } from "./signaling.js";

const $ = (id) => document.getElementById(id);
const me = JSON.parse($("signed-in-user").textContent);

// The page is signed in with Django: the session cookie logs the WebSocket in.
const client = new SignalingClient("/ws/", { login: { user: me, meta: { agent: "demo page" } } });
let current = null; // the call shown in the call panel

window.phone = { client, get call() { return current; } }; // for tests and the console

// ---------------------------------------------------------------- connection

client.on("status", (status) => {
  $("connection").textContent = status;
  $("connection").dataset.status = status;
});
client.on("login", refreshUsers);
client.on("stopped", ({ reason }) => setState("idle", `Disconnected by the server: ${reason || "stopped"}.`));
client.on("incoming", (call) => {
  if (current && current.state !== "ended") {
    call.reject(); // busy: one call at a time on this page
    return;
  }
  showCall(call);
});

// ---------------------------------------------------------------- who is online

async function refreshUsers() {
  if (client.status !== "online") return;
  let online;
  try {
    online = await client.listUsers();
  } catch {
    return;
  }
  const list = $("online-users");
  list.replaceChildren();
  const names = Object.keys(online).sort();
  if (!names.length) list.innerHTML = '<li class="muted">Nobody.</li>';
  for (const name of names) {
    const item = document.createElement("li");
    item.dataset.user = name;
    const label = document.createElement("span");
    label.className = "name";
    const sessions = online[name].length;
    label.textContent = name === me ? `${name} (you${sessions > 1 ? `, ${sessions} tabs` : ""})` : name;
    item.append(label);
    if (name !== me) {
      item.append(callButton(name, "Video", true), callButton(name, "Audio", false));
    }
    list.append(item);
  }
}

function callButton(name, label, video) {
  const button = document.createElement("button");
  button.textContent = label;
  button.className = `call-${label.toLowerCase()}`;
  button.title = `${label} call ${name}`;
  button.onclick = () => startCall(name, video);
  return button;
}

setInterval(refreshUsers, 2000);

// ---------------------------------------------------------------- calls

async function startCall(name, video) {
  if (current && current.state !== "ended") return;
  current = null;
  setState("calling", `Calling ${name}…`);
  setReason("");
  try {
    const call = await client.call(name, { video, audio: true, ringTime: $("ring-time").value });
    showCall(call);
  } catch (err) {
    setState("ended", "Call failed");
    setReason(err.error || err.message, err.code);
  }
}

function showCall(call) {
  current = call;
  $("remote-video").srcObject = null;
  $("local-video").srcObject = call.localStream;
  call.on("state", () => call === current && renderCall(call));
  call.on("localstream", (stream) => call === current && ($("local-video").srcObject = stream));
  call.on("remotestream", (stream) => call === current && ($("remote-video").srcObject = stream));
  call.on("ended", () => setTimeout(loadRecentCalls, 300));
  renderCall(call);
}

function renderCall(call) {
  const who = call.peer;
  const texts = {
    calling: `Calling ${who}…`,
    ringing: `Ringing ${who}…`,
    incoming: `Incoming call from ${who}`,
    answering: `Answering ${who}…`,
    answered: `Connecting to ${who}…`,
    connected: `In call with ${who}`,
    ended: `Call with ${who} ended`,
  };
  setState(call.state, texts[call.state] || call.state);
  setReason(call.state === "ended" ? call.endReason : "", call.endCode);
  const incoming = call.state === "incoming";
  $("incoming").hidden = !incoming;
  $("incoming-caller").textContent = who;
  $("incoming-kind").textContent = /\bm=video\b/.test(call.offer?.sdp || "") ? " (video)" : "";
  $("hangup").disabled = incoming || call.state === "ended";
}

function setState(state, text) {
  $("call-state").dataset.state = state;
  $("call-state").textContent = text;
  $("hangup").disabled = state === "ended" || state === "idle";
  if (state !== "incoming") $("incoming").hidden = true;
}

function setReason(reason, code) {
  $("call-reason").textContent = reason ? `${reason}${code != null ? ` (code ${code})` : ""}` : "";
  $("call-reason").dataset.code = code ?? "";
}

$("accept").onclick = () => current?.accept({ audio: true }).catch((err) => console.warn(err));
$("reject").onclick = () => current?.reject();
$("hangup").onclick = () => current?.hangup();

// ---------------------------------------------------------------- recent calls

async function loadRecentCalls() {
  const body = $("recent-calls").tBodies[0];
  let page;
  try {
    const response = await fetch(`/api/calls/?user=${encodeURIComponent(me)}`, {
      headers: { Accept: "application/json" },
    });
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    page = await response.json();
  } catch (err) {
    body.innerHTML = `<tr><td colspan="5" class="muted">History unavailable (${err.message}).</td></tr>`;
    return;
  }
  body.replaceChildren();
  const calls = (page.results || []).slice(0, 10);
  if (!calls.length) body.innerHTML = '<tr><td colspan="5" class="muted">No calls yet.</td></tr>';
  for (const call of calls) {
    const row = body.insertRow();
    row.dataset.callId = call.call_id;
    const result = call.state === "ended" ? call.hangup_reason || "" : call.state;
    for (const text of [
      new Date(call.started_at).toLocaleString(),
      call.caller?.user ?? "",
      call.callee,
      call.answered_at ? `${Math.round(call.duration)} s` : "–",
      result,
    ]) {
      row.insertCell().textContent = text;
    }
  }
}

function connect() {
  client.connect().catch((err) => {
    setState("idle", `Not connected: ${err.error || err.message}`);
    setTimeout(connect, 3000); // later drops reconnect by themselves
  });
}

loadRecentCalls();
connect();
