// TypeScript SDK driver of the interop matrix (tests/interop).
//
// Usage: node tsclient.mjs FLAVOUR URL API_KEY PLAN_JSON
//   FLAVOUR: "sdk"        @modelcontextprotocol/sdk 1.32.2 (legacy era only)
//            "v2-auto"    @modelcontextprotocol/client 2.4.0, versionNegotiation {mode: "auto"}
//            "v2-pinned"  @modelcontextprotocol/client 2.4.0, versionNegotiation {mode: {pin: "2026-07-28"}}
// Packages resolve from $INTEROP_NODE_MODULES (.tools/npm/node_modules). Prints one JSON line.
import path from "node:path";
import { pathToFileURL } from "node:url";

const [flavour, url, apiKey, planJson] = process.argv.slice(2);
const modules = process.env.INTEROP_NODE_MODULES;
if (!flavour || !url || !apiKey || !planJson || !modules) {
  console.error("usage: INTEROP_NODE_MODULES=… node tsclient.mjs FLAVOUR URL API_KEY PLAN_JSON");
  process.exit(2);
}
const load = (file) => import(pathToFileURL(path.join(modules, file)).href);
const plan = JSON.parse(planJson);
const summary = { client: flavour, connected: false, tools: [], calls: {}, sampled: 0, elicited: 0 };

const onSample = async () => {
  summary.sampled += 1;
  return {
    role: "assistant",
    content: { type: "text", text: `interop-sampled-by-${flavour}` },
    model: "interop-model",
  };
};
// Accept with every required field of the requested form filled with this client's tag.
const onElicit = async (request) => {
  summary.elicited += 1;
  const schema = request.params.requestedSchema || {};
  const content = {};
  for (const field of schema.required || []) content[field] = `interop-${flavour}`;
  return { action: "accept", content };
};
const capabilities = { sampling: {}, elicitation: { form: {} } };
const headers = { Authorization: `Bearer ${apiKey}` };

async function connectSdk() {
  const { Client } = await load("@modelcontextprotocol/sdk/dist/esm/client/index.js");
  const { StreamableHTTPClientTransport } = await load(
    "@modelcontextprotocol/sdk/dist/esm/client/streamableHttp.js",
  );
  const types = await load("@modelcontextprotocol/sdk/dist/esm/types.js");
  const client = new Client({ name: "interop-ts-sdk", version: "1.32.2" }, { capabilities });
  client.setRequestHandler(types.CreateMessageRequestSchema, onSample);
  client.setRequestHandler(types.ElicitRequestSchema, onElicit);
  const transport = new StreamableHTTPClientTransport(new URL(url), { requestInit: { headers } });
  await client.connect(transport);
  return {
    client,
    version: () => transport.protocolVersion,
    era: () => "legacy",
    call: (params, onprogress) =>
      client.callTool(params, undefined, { onprogress, timeout: 30000 }),
  };
}

async function connectV2(mode) {
  const sdk = await load("@modelcontextprotocol/client/dist/index.mjs");
  const client = new sdk.Client(
    { name: `interop-ts-client-${flavour}`, version: "2.4.0" },
    { capabilities, versionNegotiation: { mode } },
  );
  client.setRequestHandler("sampling/createMessage", onSample);
  client.setRequestHandler("elicitation/create", onElicit);
  const transport = new sdk.StreamableHTTPClientTransport(new URL(url), {
    requestInit: { headers },
  });
  await client.connect(transport);
  return {
    client,
    // Modern connections have no handshake: the transport carries the per-request version.
    version: () => client.getNegotiatedProtocolVersion() ?? transport.protocolVersion,
    era: () => client.getProtocolEra(),
    call: (params, onprogress) => client.callTool(params, { onprogress, timeout: 30000 }),
  };
}

function describe(err) {
  const code = err && typeof err.code !== "undefined" ? ` (code ${err.code})` : "";
  return `${err && err.name ? err.name : "Error"}: ${err && err.message ? err.message : err}${code}`;
}

let session;
try {
  if (flavour === "sdk") session = await connectSdk();
  else if (flavour === "v2-auto") session = await connectV2("auto");
  else if (flavour === "v2-pinned") session = await connectV2({ pin: "2026-07-28" });
  else throw new Error(`unknown flavour ${flavour}`);
  summary.connected = true;
  summary.protocolVersion = session.version();
  summary.era = session.era();
  let cursor;
  do {
    // every page: the aggregated /mcp has more tools than one page
    const listed = await session.client.listTools(cursor ? { cursor } : undefined);
    summary.tools.push(...listed.tools.map((tool) => tool.name));
    cursor = listed.nextCursor;
  } while (cursor);
  for (const step of plan.calls) {
    const progress = [];
    const onprogress = step.progress ? (p) => progress.push(p.progress) : undefined;
    const outcome = { ok: false };
    try {
      const result = await session.call({ name: step.tool, arguments: step.args }, onprogress);
      outcome.ok = true;
      outcome.isError = Boolean(result.isError);
      outcome.text = (result.content || [])
        .filter((block) => block.type === "text")
        .map((block) => block.text)
        .join("");
    } catch (err) {
      outcome.error = describe(err);
    }
    if (progress.length) outcome.progress = progress;
    summary.calls[step.op] = outcome;
  }
} catch (err) {
  summary.error = describe(err);
} finally {
  console.log(JSON.stringify(summary));
  try {
    await session?.client.close();
  } catch {
    // closing is best effort; the summary is already out
  }
}
process.exit(0);
