// signaling.js: a browser client of the call-signaling protocol (PROTOCOL.md),
// with a small WebRTC call API on top. Dependency-free ES module, no build step.
//
//   import { SignalingClient } from "/static/calls/signaling.js";
//   const client = new SignalingClient("/ws/", { login: { user: "alice" } });
//   client.on("incoming", (call) => call.accept({ video: true, audio: true }));
//   await client.connect();
//   const call = await client.call("bob", { video: true, audio: true });
//   call.on("state", (state) => console.log(state));
//   call.on("ended", ({ code, reason }) => console.log(code, reason));

const REQUEST_TIMEOUT = 10000; // ms we wait for the server's answer to a request
const ACK_TIMEOUT = 180000; // ... after each ack of it
const KEEPALIVE_INTERVAL = 25000; // ms of silence before we ping the server ourselves
const ICE_GATHERING_TIMEOUT = 5000; // non-trickle: the longest wait for all candidates

/** An error response of the server: `code` and `error` as in PROTOCOL.md §3. */
export class SignalingError extends Error {
  constructor(code, error) {
    super(`${code} ${error}`);
    this.name = "SignalingError";
    this.code = code;
    this.error = error;
  }
}

/** A tiny event emitter: `on` returns a function that removes the listener. */
class Emitter {
  constructor() {
    this._listeners = new Map();
  }
  on(name, listener) {
    if (!this._listeners.has(name)) this._listeners.set(name, new Set());
    this._listeners.get(name).add(listener);
    return () => this.off(name, listener);
  }
  once(name, listener) {
    const off = this.on(name, (...args) => {
      off();
      listener(...args);
    });
    return off;
  }
  off(name, listener) {
    this._listeners.get(name)?.delete(listener);
  }
  emit(name, ...args) {
    for (const listener of [...(this._listeners.get(name) || [])]) {
      try {
        listener(...args);
      } catch (err) {
        console.error(`listener of "${name}" failed`, err);
      }
    }
  }
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** Absolute ws:// or wss:// URL for a path such as "/ws/" on this page's host. */
function websocketUrl(url) {
  if (/^wss?:\/\//.test(url)) return url;
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  return `${scheme}//${location.host}${url.startsWith("/") ? "" : "/"}${url}`;
}

/**
 * One signaling connection: login, requests, events, invites; reconnects by itself.
 *
 * Options:
 *   login      {user, password?, token?, session_id?, meta?}; only `user` logs in
 *              with the page's Django session cookie
 *   reconnect  true: reconnect with backoff (0.5 s doubling to 30 s) and log in again
 *   rtcConfig  RTCPeerConnection configuration of the calls (default: no ICE servers)
 *   autoRinging  true: send `ringing` for every accepted invite
 *
 * Client events (`client.on(name, fn)`):
 *   status    "connecting" | "online" | "reconnecting" | "closed"
 *   login     {session_id} after each (re)login
 *   event     data of every event: {class, subclass, type, obj_id, body}
 *   incoming  a Call that rings here (call.accept() / call.reject())
 *   call      every Call, outgoing or incoming, when it is made
 *   stopped   {code, reason}: the session was stopped (`core/session/stop`); no reconnect
 *   error     an Error that no promise could carry (e.g. a failed re-login)
 */
export class SignalingClient extends Emitter {
  constructor(url = "/ws/", options = {}) {
    super();
    this.url = websocketUrl(url);
    this.options = { reconnect: true, autoRinging: true, rtcConfig: { iceServers: [] }, ...options };
    this.status = "closed";
    this.sessionId = null;
    this.user = options.login?.user ?? null;
    this.calls = new Map(); // call_id -> Call
    this._ws = null;
    this._nextTid = 1;
    this._pending = new Map(); // tid -> {resolve, reject, timer}
    this._subscriptions = new Map(); // key -> subscription, renewed after a reconnect
    this._handlers = new Map(); // "class/subclass/cmd" -> handler of relayed requests
    this._closing = false;
    this._attempt = 0;
    this._keepalive = null;
  }

  // ---------------------------------------------------------------- connection

  /** Open the WebSocket and log in; resolves with the session id. */
  async connect() {
    this._closing = false;
    this._setStatus("connecting");
    try {
      await this._open();
    } catch (err) {
      this._setStatus("closed");
      throw err;
    }
    return this.sessionId;
  }

  /** Close for good (no reconnect); the server ends this session's calls. */
  close() {
    this._closing = true;
    clearInterval(this._keepalive);
    this._ws?.close(1000);
    this._setStatus("closed");
  }

  /** One attempt: open the socket, log in, renew the subscriptions. */
  async _open() {
    const ws = new WebSocket(this.url);
    this._ws = ws;
    await new Promise((resolve, reject) => {
      ws.onopen = resolve;
      ws.onerror = () => reject(new Error(`cannot connect to ${this.url}`));
      ws.onclose = () => reject(new Error(`connection to ${this.url} closed`));
    });
    ws.onmessage = (msg) => this._onFrame(msg.data);
    ws.onclose = (ev) => this._onClose(ws, ev);
    ws.onerror = () => {};
    this._lastFrame = Date.now();
    try {
      const login = this.options.login;
      if (login) {
        const data = await this.request("core", "user", "login", login);
        this.sessionId = data.session_id;
        this.user = login.user;
      }
      for (const sub of this._subscriptions.values()) {
        await this.request("core", "event", "subscribe", sub);
      }
    } catch (err) {
      ws.close(1000); // e.g. bad credentials: this attempt is over
      throw err;
    }
    this._attempt = 0;
    this._startKeepalive(ws);
    this._setStatus("online");
    if (this.sessionId) this.emit("login", { session_id: this.sessionId });
  }

  _onClose(ws, ev) {
    if (ws !== this._ws) return;
    clearInterval(this._keepalive);
    for (const [tid, pending] of this._pending) {
      clearTimeout(pending.timer);
      pending.reject(new Error("connection closed"));
      this._pending.delete(tid);
    }
    // The server ends our calls when the connection drops: end them here too.
    for (const call of [...this.calls.values()]) {
      call._end({ code: null, reason: "Connection lost" });
    }
    this.sessionId = null;
    // A close while (re)connecting is the business of whoever is connecting.
    if (this.status !== "online") return;
    if (this._closing || !this.options.reconnect || ev.code === 1008) {
      this._setStatus("closed");
      return;
    }
    this._reconnect();
  }

  async _reconnect() {
    this._setStatus("reconnecting");
    while (!this._closing) {
      const delay = Math.min(30000, 500 * 2 ** this._attempt++) * (0.8 + 0.4 * Math.random());
      await sleep(delay);
      if (this._closing) return;
      try {
        await this._open();
        return;
      } catch (err) {
        this.emit("error", err);
      }
    }
  }

  /** Our own ping when the server has been silent for a while: finds dead connections. */
  _startKeepalive(ws) {
    clearInterval(this._keepalive);
    this._keepalive = setInterval(() => {
      if (Date.now() - this._lastFrame < KEEPALIVE_INTERVAL) return;
      this.request("core", "core", "ping").catch(() => ws.close(4000));
    }, KEEPALIVE_INTERVAL / 2);
  }

  _setStatus(status) {
    if (this.status === status) return;
    this.status = status;
    this.emit("status", status);
  }

  _send(message) {
    if (!this._ws || this._ws.readyState !== WebSocket.OPEN) {
      throw new Error("not connected");
    }
    this._ws.send(JSON.stringify(message));
  }

  // ---------------------------------------------------------------- requests

  /** Send a request; resolves with the answer's `data`, rejects with a SignalingError. */
  request(cls, subclass, cmd, data = {}) {
    const tid = this._nextTid++;
    return new Promise((resolve, reject) => {
      const pending = { resolve, reject, timer: null };
      pending.arm = (ms) => {
        clearTimeout(pending.timer);
        pending.timer = setTimeout(() => {
          this._pending.delete(tid);
          reject(new SignalingError(100005, "Timeout"));
        }, ms);
      };
      pending.arm(REQUEST_TIMEOUT);
      this._pending.set(tid, pending);
      try {
        this._send({ class: cls, subclass, cmd, data, tid });
      } catch (err) {
        clearTimeout(pending.timer);
        this._pending.delete(tid);
        reject(err);
      }
    });
  }

  /** Subscribe to events; kept and renewed after a reconnect. */
  async subscribe({ class: cls, subclass = "*", type = "*", obj_id = "*", body = {} }) {
    const sub = { class: cls, subclass, type, obj_id, body };
    await this.request("core", "event", "subscribe", sub);
    this._subscriptions.set(`${cls}/${subclass}/${type}/${obj_id}`, sub);
  }

  async unsubscribe({ class: cls, subclass = "*", type = "*", obj_id = "*" }) {
    this._subscriptions.delete(`${cls}/${subclass}/${type}/${obj_id}`);
    await this.request("core", "event", "unsubscribe", { class: cls, subclass, type, obj_id });
  }

  /** Online users: {user: [session_id, ...]}. */
  listUsers() {
    return this.request("core", "user", "list");
  }

  /**
   * Answer requests that others relay to this session with `core/session/cmd`:
   * `handler(data, message)` returns (or resolves with) the answer's data, or throws
   * (a SignalingError's code and text are sent back). Unhandled ones get 100042.
   */
  handle(cls, subclass, cmd, handler) {
    this._handlers.set(`${cls}/${subclass}/${cmd}`, handler);
  }

  // ---------------------------------------------------------------- what the server sends

  _onFrame(text) {
    this._lastFrame = Date.now();
    let msg;
    try {
      msg = JSON.parse(text);
    } catch {
      return;
    }
    if ("ack" in msg) {
      this._pending.get(msg.ack)?.arm(ACK_TIMEOUT);
    } else if ("result" in msg) {
      const pending = this._pending.get(msg.tid);
      if (!pending) return;
      clearTimeout(pending.timer);
      this._pending.delete(msg.tid);
      if (msg.result === "ok") pending.resolve(msg.data || {});
      else pending.reject(new SignalingError(msg.data?.code, msg.data?.error));
    } else if ("cmd" in msg) {
      this._onServerRequest(msg);
    }
  }

  _respond(tid, data) {
    try {
      this._send(data ? { result: "ok", tid, data } : { result: "ok", tid });
    } catch {
      // closed meanwhile: the server gives up on its request by itself
    }
  }

  _respondError(tid, code, error) {
    try {
      this._send({ result: "error", tid, data: { code, error } });
    } catch {}
  }

  _onServerRequest(msg) {
    const key = `${msg.class}/${msg.subclass || "core"}/${msg.cmd}`;
    if (key === "core/core/ping") {
      this._respond(msg.tid);
    } else if (key === "core/core/event") {
      this._respond(msg.tid);
      this._onEvent(msg.data || {});
    } else if (key === "media/call/invite") {
      this._respond(msg.tid); // accept the invite at once; the user decides later
      this._onInvite(msg.data || {});
    } else {
      this._onRelayedRequest(key, msg);
    }
  }

  async _onRelayedRequest(key, msg) {
    const handler = this._handlers.get(key);
    if (!handler) {
      this._respondError(msg.tid, 100042, `Unknown command '${key}'`);
      return;
    }
    // Slow handlers: an ack first, so the server waits longer than 5 s.
    const ack = setTimeout(() => {
      try {
        this._send({ ack: msg.tid });
      } catch {}
    }, 500);
    try {
      const data = await handler(msg.data || {}, msg);
      this._respond(msg.tid, data && Object.keys(data).length ? data : undefined);
    } catch (err) {
      this._respondError(msg.tid, err.code || 305001, err.error || err.message || "Call error");
    } finally {
      clearTimeout(ack);
    }
  }

  _onEvent(event) {
    if (event.class === "media" && event.subclass === "call") {
      this.calls.get(event.obj_id)?._onEvent(event.type, event.body || {});
    } else if (event.class === "core" && event.subclass === "session_event" &&
               event.type === "stop" && event.obj_id === this.sessionId) {
      // `core/session/stop` (staff or our user): the server closes us; stay closed.
      this._closing = true;
      this.emit("stopped", event.body || {});
    }
    this.emit("event", event);
  }

  _onInvite(invite) {
    if (this.calls.has(invite.call_id)) return; // a re-invite of a call we know
    const call = new Call(this, invite.call_id, "incoming");
    call.peer = invite.caller?.user ?? null;
    call.caller = invite.caller || null;
    call.offer = invite.offer || null;
    call.meta = invite.meta || {};
    this._track(call);
    if (this.options.autoRinging) {
      this.request("media", "call", "ringing", { call_id: call.id }).catch(() => {});
    }
    this.emit("incoming", call);
  }

  _track(call) {
    this.calls.set(call.id, call);
    call.once("ended", () => this.calls.delete(call.id));
    this.emit("call", call);
  }

  // ---------------------------------------------------------------- calls

  /**
   * Call a user (every device of theirs rings). Resolves with the Call once the
   * server took it (state "calling"); follow it with call.on("state"/"ended").
   *
   * Options: video, audio (default true, true), stream (a MediaStream to send
   * instead of getUserMedia), ringTime (seconds), type ("user", "session", ...),
   * meta.
   */
  async call(callee, { video = true, audio = true, stream = null, ringTime, type, meta } = {}) {
    const call = new Call(this, null, "calling");
    call.peer = callee;
    await call._prepareMedia(stream, { video, audio });
    const offer = await call._makeOffer();
    const data = { callee, offer };
    if (ringTime) data.ring_time = Number(ringTime);
    if (type) data.type = type;
    if (meta) data.meta = meta;
    let answer;
    try {
      answer = await this.request("media", "call", "start", data);
    } catch (err) {
      call._end({ code: err.code ?? null, reason: err.error || err.message });
      throw err;
    }
    // The call's events come after this answer, each in a later task: none is lost.
    call.id = answer.call_id;
    this._track(call);
    return call;
  }
}

/**
 * One call, outgoing or incoming, with its RTCPeerConnection.
 *
 * States: outgoing "calling" -> "ringing" -> "answered" -> "connected";
 *         incoming "incoming" -> "answering" -> "answered" -> "connected";
 *         any -> "ended" (then `endCode` and `endReason` are set).
 * Call events (`call.on(name, fn)`):
 *   state        (state, call) on every change of state
 *   ended        {code, reason}: the hangup event's body, or what ended it here
 *   localstream  MediaStream of our camera/microphone
 *   remotestream MediaStream of the other side
 *   peerstate    RTCPeerConnection.connectionState on every change
 */
export class Call extends Emitter {
  constructor(client, id, state) {
    super();
    this.client = client;
    this.id = id;
    this.direction = state === "incoming" ? "incoming" : "outgoing";
    this.state = state;
    this.peer = null; // the other user's name
    this.pc = null;
    this.localStream = null;
    this.remoteStream = null;
    this.endCode = null;
    this.endReason = null;
  }

  // ---------------------------------------------------------------- user actions

  /** Answer an incoming call with our media (options as for client.call). */
  async accept({ video, audio = true, stream = null } = {}) {
    if (this.state !== "incoming") throw new Error(`cannot accept a call in state ${this.state}`);
    const offerSdp = this.offer?.sdp || "";
    if (video === undefined) video = !offerSdp || /\bm=video\b/.test(offerSdp);
    this._setState("answering");
    try {
      await this._prepareMedia(stream, { video, audio });
      const answer = await this._makeAnswer();
      if (this.state === "ended") return this._release(); // hung up while we prepared
      await this.client.request("media", "call", "answered", { call_id: this.id, answer });
      this._setState("answered");
      this._checkConnected();
    } catch (err) {
      if (this.state !== "ended") {
        // 305006 (answered elsewhere) or 305002 (gone): the hangup event tells why.
        if (err.code !== 305006 && err.code !== 305002) {
          this.client.request("media", "call", "hangup", { call_id: this.id }).catch(() => {});
        }
        this._endSoon({ code: err.code ?? null, reason: err.error || err.message });
      }
      throw err;
    }
  }

  /** Refuse an incoming call: this device stops ringing, the others go on. */
  async reject() {
    if (this.state !== "incoming") return;
    this._end({ code: 305003, reason: "Call rejected" });
    await this.client.request("media", "call", "rejected", { call_id: this.id }).catch(() => {});
  }

  /** End the call at any stage. The `ended` event carries the server's hangup body. */
  async hangup({ code, reason } = {}) {
    if (this.state === "ended") return;
    if (this.state === "incoming") return this.reject();
    const data = { call_id: this.id };
    if (code !== undefined) data.code = code;
    if (reason !== undefined) data.error = reason;
    try {
      await this.client.request("media", "call", "hangup", data);
    } catch (err) {
      this._end({ code: code ?? 0, reason: reason ?? "User hangup" });
      return;
    }
    this._endSoon({ code: code ?? 0, reason: reason ?? "User hangup" });
  }

  // ---------------------------------------------------------------- signaling events

  _onEvent(type, body) {
    if (this.state === "ended") return;
    if (type === "ringing" && this.direction === "outgoing" && this.state === "calling") {
      this._setState("ringing");
    } else if (type === "answer" && this.direction === "outgoing") {
      this._setState("answered");
      this._applyAnswer(body.answer);
    } else if (type === "hangup") {
      this._end({ code: body.code ?? null, reason: body.reason ?? "" });
    }
  }

  async _applyAnswer(answer) {
    if (!answer?.sdp || !this.pc) return;
    try {
      await this.pc.setRemoteDescription({ type: "answer", sdp: answer.sdp });
    } catch (err) {
      console.error("bad answer SDP", err);
      this.hangup({ code: 305001, reason: "Bad answer SDP" });
    }
  }

  // ---------------------------------------------------------------- media

  async _prepareMedia(stream, { video, audio }) {
    if (stream) this.localStream = stream;
    else if (video || audio) this.localStream = await navigator.mediaDevices.getUserMedia({ video, audio });
    if (this.localStream) this.emit("localstream", this.localStream);
    const pc = new RTCPeerConnection(this.client.options.rtcConfig);
    this.pc = pc;
    for (const track of this.localStream?.getTracks() || []) pc.addTrack(track, this.localStream);
    pc.ontrack = (ev) => {
      const stream = ev.streams[0] || new MediaStream([ev.track]);
      if (this.remoteStream !== stream) {
        this.remoteStream = stream;
        this.emit("remotestream", stream);
      }
    };
    pc.onconnectionstatechange = () => {
      this.emit("peerstate", pc.connectionState);
      this._checkConnected();
      if (pc.connectionState === "failed" && this.state !== "ended") {
        this.hangup({ code: 305001, reason: "Media failed" });
      }
    };
  }

  async _makeOffer() {
    // Without local tracks, still ask for the other side's media.
    if (!this.localStream) {
      this.pc.addTransceiver("audio", { direction: "recvonly" });
      this.pc.addTransceiver("video", { direction: "recvonly" });
    }
    await this.pc.setLocalDescription(await this.pc.createOffer());
    await this._gatheringComplete();
    return { sdp: this.pc.localDescription.sdp, sdp_type: "webrtc", trickle_ice: false };
  }

  async _makeAnswer() {
    if (this.offer?.sdp) {
      await this.pc.setRemoteDescription({ type: "offer", sdp: this.offer.sdp });
      await this.pc.setLocalDescription(await this.pc.createAnswer());
      await this._gatheringComplete();
      return { sdp: this.pc.localDescription.sdp, sdp_type: "webrtc", trickle_ice: false };
    }
    return {};
  }

  /** Non-trickle ICE: wait until every candidate is in the local description. */
  _gatheringComplete() {
    const pc = this.pc;
    if (pc.iceGatheringState === "complete") return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        pc.removeEventListener("icegatheringstatechange", check);
        resolve();
      };
      const check = () => pc.iceGatheringState === "complete" && done();
      const timer = setTimeout(done, ICE_GATHERING_TIMEOUT);
      pc.addEventListener("icegatheringstatechange", check);
    });
  }

  _checkConnected() {
    if (this.state === "answered" && this.pc?.connectionState === "connected") {
      this._setState("connected");
    }
  }

  // ---------------------------------------------------------------- state

  _setState(state) {
    if (this.state === state || this.state === "ended") return;
    this.state = state;
    this.emit("state", state, this);
  }

  /** Close the peer connection and stop our camera and microphone. */
  _release() {
    this.pc?.close();
    for (const track of this.localStream?.getTracks() || []) track.stop();
  }

  /** After our own hangup, wait briefly for the server's hangup event, then end anyway. */
  _endSoon(body) {
    setTimeout(() => this._end(body), 2000);
  }

  _end({ code, reason }) {
    if (this.state === "ended") return;
    this.endCode = code;
    this.endReason = reason;
    this._release();
    this._setState("ended");
    this.emit("ended", { code, reason });
  }
}
