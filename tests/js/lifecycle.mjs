// LangGraph's JavaScript client, unchanged, drives the service's Agent Server door (`/lg`)
// through the lifecycle the Python client's tests cover: assistants, threads, a run to an
// interrupt and its answer, a second turn, an inbox search, streamed and joined runs, and a
// wrong answer refused. Run by tests/e2e/test_js_client.py against a real server process.
//
//   HITL_LG_URL=http://127.0.0.1:8000/lg HITL_LG_API_KEY=hitl_... node tests/js/lifecycle.mjs
//
// Prints one JSON object on stdout: `{"ok": true, "facts": {...}}`, or `{"ok": false,
// "failed": <check>, "error": ...}` with exit status 1 at the first check that fails.

import { Client } from "@langchain/langgraph-sdk";

const apiUrl = process.env.HITL_LG_URL;
const apiKey = process.env.HITL_LG_API_KEY;
if (!apiUrl || !apiKey) {
  console.error("HITL_LG_URL and HITL_LG_API_KEY must be set");
  process.exit(2);
}

const client = new Client({ apiUrl, apiKey });
const facts = {};
const HUMAN = { messages: [{ type: "human", content: "hi" }] };

class CheckFailed extends Error {}

function check(condition, what, seen) {
  if (!condition) {
    throw new CheckFailed(`${what}; seen: ${JSON.stringify(seen)}`);
  }
}

function equal(actual, expected, what) {
  check(JSON.stringify(actual) === JSON.stringify(expected), `${what}: expected ${JSON.stringify(expected)}`, actual);
}

async function collect(stream) {
  const parts = [];
  for await (const part of stream) parts.push(part);
  return parts;
}

async function refused(call) {
  try {
    await call();
  } catch (error) {
    return error;
  }
  throw new CheckFailed("the call succeeded; a refusal was expected");
}

const steps = [
  async function assistantsAreTheGraphs() {
    const assistants = await client.assistants.search({ limit: 100 });
    const graphs = assistants.map((a) => a.graph_id);
    check(graphs.includes("approval") && graphs.includes("chatty"), "approval and chatty listed", graphs);
    const found = await client.assistants.search({ graphId: "approval" });
    equal(found.map((a) => a.graph_id), ["approval"], "the assistant of one graph");
    facts.assistants = graphs.length;
  },

  async function aRunWaitsForItsInterruptAndTheAnswer() {
    const thread = await client.threads.create();
    check(typeof thread.thread_id === "string", "threads.create gives a thread_id", thread);
    const first = await client.runs.wait(thread.thread_id, "approval", { input: {} });
    const interrupts = first.__interrupt__;
    check(Array.isArray(interrupts) && interrupts.length === 1, "one interrupt", first);
    equal(interrupts[0].value, { question: "approve?" }, "the interrupt's value");

    // The inbox: interrupted threads, each with its interrupts.
    const inbox = await client.threads.search({ status: "interrupted", limit: 100 });
    const found = inbox.find((t) => t.thread_id === thread.thread_id);
    check(found !== undefined, "threads.search finds the interrupted thread", inbox.map((t) => t.thread_id));
    equal(found.status, "interrupted", "its status");
    const listed = Object.values(found.interrupts).flat();
    equal(listed.map((i) => i.id), [interrupts[0].id], "its interrupts");

    const done = await client.runs.wait(thread.thread_id, "approval", {
      command: { resume: { decision: "approve" } },
    });
    check(!("__interrupt__" in done), "no interrupt after the answer", done);
    equal(done.log, [["ask", "approve"], ["after"]], "the log after the answer");
    equal((await client.threads.get(thread.thread_id)).status, "idle", "the thread at rest");
    facts.thread_id = thread.thread_id;
    facts.interrupt_id = interrupts[0].id;
    facts.first_log = done.log;
  },

  async function aSecondTurnAndAWrongAnswer() {
    const threadId = facts.thread_id;
    const second = await client.runs.wait(threadId, "approval", { input: {} });
    const [again] = second.__interrupt__;
    check(again.id !== facts.interrupt_id, "a new interrupt for the new turn", again);

    // Not one of approve|reject: 422 naming the resume value, and the interrupt still waits.
    const error = await refused(() =>
      client.runs.wait(threadId, "approval", { command: { resume: { decision: "maybe" } } }),
    );
    equal(error.status, 422, "a wrong answer's status");
    const detail = JSON.parse(error.message.replace(/^HTTP \d+: /, "")).detail;
    equal(detail[0].loc.slice(0, 3), ["body", "command", "resume"], "the refused field");
    equal((await client.threads.get(threadId)).status, "interrupted", "still interrupted");

    const done = await client.runs.wait(threadId, "approval", {
      command: { resume: { [again.id]: { decision: "reject" } } },
    });
    equal(done.log, [["ask", "approve"], ["after"], ["ask", "reject"], ["after"]], "both turns");
    const runs = await client.runs.list(threadId, { limit: 10 });
    equal(runs.map((r) => r.status), ["success", "success", "success", "success"], "four runs");
    facts.refused_status = error.status;
    facts.refused_loc = detail[0].loc;
    facts.turns_log = done.log;
  },

  async function aStreamedRunCarriesEveryMode() {
    const threadId = crypto.randomUUID();
    const parts = await collect(
      client.runs.stream(threadId, "chatty", {
        input: HUMAN,
        streamMode: ["values", "updates", "messages-tuple", "custom"],
        ifNotExists: "create",
      }),
    );
    const events = parts.map((p) => p.event);
    equal(events[0], "metadata", "the first event");
    const runId = parts[0].data.run_id;
    equal(events.at(-1), "end", "the last event");
    const tokens = parts.filter((p) => p.event === "messages").map((p) => p.data);
    check(tokens.length > 3, "several message chunks", tokens.length);
    equal(new Set(tokens.map(([message]) => message.id)).size, 1, "chunks of one message");
    equal(tokens.map(([message]) => message.content).join(""), "hello there, how can I help", "the tokens");
    check(tokens.every(([, meta]) => meta.langgraph_node === "talk"), "each chunk's node", tokens);
    equal(parts.filter((p) => p.event === "custom").map((p) => p.data), [{ progress: "thinking" }, { progress: "done" }], "custom events");
    const values = parts.filter((p) => p.event === "values").map((p) => p.data);
    equal(values.at(-1).messages.at(-1).content, "hello there, how can I help", "the last values");
    const updates = parts.filter((p) => p.event === "updates").map((p) => p.data);
    equal(Object.keys(updates[0]), ["talk"], "the first update");
    equal(updates.at(-1).__interrupt__[0].value, { question: "send it?" }, "the interrupt's update");
    equal((await client.runs.get(threadId, runId)).status, "success", "the streamed run ended");

    // The answer, streamed too.
    const resumed = await collect(
      client.runs.stream(threadId, "chatty", {
        command: { resume: { decision: "approve" } },
        streamMode: "updates",
      }),
    );
    equal(resumed.at(-1).event, "end", "the resumed stream's end");
    const confirm = resumed.find((p) => p.event === "updates" && "confirm" in p.data);
    equal(confirm.data.confirm.messages[0].content, "answer: approve", "the answer's update");
    facts.stream_events = Object.fromEntries(
      [...new Set(events)].map((e) => [e, events.filter((x) => x === e).length]),
    );
  },

  async function aStatelessRunStreams() {
    const parts = await collect(client.runs.stream(null, "approval", { input: {}, streamMode: "updates" }));
    equal(parts[0].event, "metadata", "the stateless stream's first event");
    equal(parts.at(-1).event, "end", "the stateless stream's end");
    const interrupted = parts.find((p) => p.event === "updates" && "__interrupt__" in p.data);
    equal(interrupted.data.__interrupt__[0].value, { question: "approve?" }, "its interrupt");
    facts.stateless_events = parts.length;
  },

  async function aBackgroundRunIsJoined() {
    const threadId = crypto.randomUUID();
    const run = await client.runs.create(threadId, "chatty", {
      input: HUMAN,
      streamMode: ["updates"],
      ifNotExists: "create",
    });
    check(["pending", "running"].includes(run.status), "a background run starts", run);
    const joined = await collect(client.runs.joinStream(threadId, run.run_id));
    equal(joined.map((p) => p.event), ["metadata", "updates", "updates", "end"], "the joined stream");
    equal(joined[0].data.run_id, run.run_id, "the joined run");
    equal(joined[2].data.__interrupt__[0].value, { question: "send it?" }, "the joined interrupt");
    const result = await client.runs.join(threadId, run.run_id);
    equal(result.__interrupt__[0].value, { question: "send it?" }, "runs.join's values");
    facts.joined_events = joined.map((p) => p.event);
  },
];

let current = "start";
try {
  for (const step of steps) {
    current = step.name;
    await step();
  }
  console.log(JSON.stringify({ ok: true, checks: steps.map((s) => s.name), facts }));
} catch (error) {
  const reason = error instanceof CheckFailed ? error.message : `${error.name}: ${error.message}`;
  console.log(JSON.stringify({ ok: false, failed: current, error: reason, facts }));
  process.exitCode = 1;
}
