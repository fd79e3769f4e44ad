// Drives the /chat Socket.IO namespace the way the Wegent web frontend does
// (frontend/src/contexts/SocketContext.tsx): same library (socket.io-client 4.8.1), same
// io() options, same chat:send payload, then task:join with an ack.
//
// Input: one JSON scenario, as argv[2] or on stdin:
//   {"base_url": "http://127.0.0.1:8000", "token": "<jwt>", "team_id": 1, "message": "hi",
//    "bad_token": "not-a-jwt" (optional), "timeout_ms": 30000 (optional),
//    "extra": {...} (optional, merged into the chat:send payload),
//    "transports": ["polling"] (optional: replaces the frontend's transports, e.g. to act as a
//    browser behind a proxy that blocks WebSocket)}
// Output: one JSON object on stdout, exit 0. On timeout or failure: a message and what was
// recorded so far on stderr, exit 1 (timeout) or 2 (bad input / unexpected error).
//
// Set DEBUG=socket.io-client:*,engine.io-client:* to see the frames on stderr.

import { io } from "socket.io-client";

// Exactly the web frontend's options.
function frontendOptions(token, transports) {
  return {
    path: "/socket.io",
    auth: { token },
    transports: transports ?? ["websocket", "polling"],
    reconnection: true,
    reconnectionAttempts: Infinity,
    reconnectionDelay: 1000,
    reconnectionDelayMax: 5000,
    timeout: 20000,
    upgrade: true,
  };
}

async function readScenario() {
  if (process.argv[2]) return JSON.parse(process.argv[2]);
  const chunks = [];
  for await (const chunk of process.stdin) chunks.push(chunk);
  return JSON.parse(Buffer.concat(chunks).toString("utf8"));
}

const report = {
  transport: null,
  connected_sid: null,
  send_ack: null,
  join_ack: null,
  events: [], // every event received on the good connection, in order: {event, data}
  timeline: [], // event names plus "ack:<event>" markers, in arrival order
  bad_token: null,
};

function finish(code, message) {
  const out = code === 0 ? JSON.stringify(report) + "\n" : "";
  if (code !== 0) {
    process.stderr.write(`client.mjs: ${message}\nrecorded so far: ${JSON.stringify(report)}\n`);
  }
  process.stdout.write(out, () => process.exit(code));
}

function waitFor(predicate, what, ms) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      clearInterval(poll);
      reject(new Error(`timed out after ${ms} ms waiting for ${what}`));
    }, ms);
    const poll = setInterval(() => {
      const found = predicate();
      if (found !== undefined) {
        clearTimeout(timer);
        clearInterval(poll);
        resolve(found);
      }
    }, 10);
  });
}

function emitWithAck(socket, event, payload, ms) {
  return new Promise((resolve, reject) => {
    socket.timeout(ms).emit(event, payload, (err, ack) => {
      if (err) reject(new Error(`no ack for ${event} within ${ms} ms`));
      else {
        report.timeline.push(`ack:${event}`);
        resolve(ack);
      }
    });
  });
}

async function goodConnection(scenario, ms) {
  const socket = io(scenario.base_url + "/chat", frontendOptions(scenario.token, scenario.transports));
  socket.onAny((event, data) => {
    report.events.push({ event, data });
    report.timeline.push(event);
  });
  socket.on("connect_error", (err) => {
    const entry = { message: err.message, data: err.data ?? null };
    report.events.push({ event: "connect_error", data: entry });
    report.timeline.push("connect_error");
  });
  socket.on("disconnect", (reason) => report.timeline.push(`disconnect:${reason}`));
  try {
    const refused = () => report.events.find((e) => e.event === "connect_error");
    await waitFor(() => (socket.connected || refused() ? true : undefined), "connect", ms);
    if (!socket.connected) throw new Error(`could not connect: ${refused().data.message}`);
    report.transport = socket.io.engine.transport.name;
    report.connected_sid = socket.id;

    const payload = {
      team_id: scenario.team_id,
      message: scenario.message,
      attachment_ids: [],
      enable_clarification: false,
      enable_deep_thinking: true,
      is_group_chat: false,
      task_type: "chat",
      ...(scenario.extra || {}),
    };
    report.send_ack = await emitWithAck(socket, "chat:send", payload, ms);
    const taskId = report.send_ack && report.send_ack.task_id;
    if (typeof taskId !== "number") throw new Error(`chat:send ack has no task_id`);
    report.join_ack = await emitWithAck(socket, "task:join", { task_id: taskId }, ms);

    const mine = (name) => report.events.find((e) => e.event === name && e.data?.task_id === taskId);
    await waitFor(() => mine("chat:done") || mine("chat:error"), "chat:done", ms);
    if (mine("chat:error")) throw new Error("the server sent chat:error");
    // chat:bot_complete and the final task:status go to the user room, possibly after chat:done:
    // give them a moment (the test checks them).
    const ended = () =>
      report.events.find(
        (e) => e.event === "task:status" && e.data?.task_id === taskId && e.data.status !== "RUNNING" &&
          e.data.status !== "PENDING",
      );
    await waitFor(() => (mine("chat:bot_complete") && ended()) || undefined, "the end", 5000).catch(() => {});
    report.transport = socket.io.engine.transport.name; // never downgraded
  } finally {
    socket.disconnect();
  }
}

async function badTokenConnection(scenario, ms) {
  const socket = io(
    scenario.base_url + "/chat",
    frontendOptions(scenario.bad_token ?? "not-a-valid-token", scenario.transports),
  );
  const result = { connected: false, connect_error: null };
  socket.on("connect", () => (result.connected = true));
  socket.on("connect_error", (err) => {
    result.connect_error = { message: err.message, data: err.data ?? null };
  });
  try {
    await waitFor(() => (result.connected || result.connect_error ? true : undefined), "connect_error", ms);
  } finally {
    socket.disconnect();
  }
  report.bad_token = result;
}

async function main() {
  let scenario;
  try {
    scenario = await readScenario();
    for (const key of ["base_url", "token", "team_id", "message"]) {
      if (scenario[key] === undefined) throw new Error(`scenario is missing "${key}"`);
    }
  } catch (err) {
    finish(2, `bad scenario: ${err.message}`);
    return;
  }
  const ms = scenario.timeout_ms ?? 30000;
  try {
    await goodConnection(scenario, ms);
    await badTokenConnection(scenario, ms);
  } catch (err) {
    finish(err.message.startsWith("timed out") || err.message.startsWith("no ack") ? 1 : 2, err.message);
    return;
  }
  finish(0);
}

main();
