// The TypeScript SDKs' OAuth clients against Giru (tests/e2e/test_oauth_clients.py).
//
// Usage: OAUTH_NODE_MODULES=… node oauth_client.mjs FLAVOUR URL REDIRECT_URI [CLIENT_METADATA_URL]
//   FLAVOUR: "sdk" @modelcontextprotocol/sdk 1.32.2 (legacy era)
//            "v2"  @modelcontextprotocol/client 2.4.0 pinned to 2026-07-28
// Without CLIENT_METADATA_URL the SDK registers itself (DCR); with it, the URL is its client_id.
// The browser's part is the test's: this prints {"authorize": URL} when the SDK sends the user
// to sign in, and reads the URL the user was sent back to (with the code) from stdin. Then it
// lists the tools, calls clinic__echo and prints one JSON summary line.
import path from "node:path";
import readline from "node:readline";
import { pathToFileURL } from "node:url";

const [flavour, url, redirectUrl, metadataUrl] = process.argv.slice(2);
const modules = process.env.OAUTH_NODE_MODULES;
if (!flavour || !url || !redirectUrl || !modules) {
  console.error("usage: OAUTH_NODE_MODULES=… node oauth_client.mjs FLAVOUR URL REDIRECT [CIMD_URL]");
  process.exit(2);
}
const load = (file) => import(pathToFileURL(path.join(modules, file)).href);
const input = readline.createInterface({ input: process.stdin })[Symbol.asyncIterator]();

// Everything in memory, as a CLI client would keep it for one run.
const provider = {
  stored: {},
  get redirectUrl() {
    return redirectUrl;
  },
  clientMetadataUrl: metadataUrl || undefined,
  get clientMetadata() {
    return {
      client_name: `giru e2e ${flavour}`,
      redirect_uris: [redirectUrl],
      grant_types: ["authorization_code", "refresh_token"],
      response_types: ["code"],
      token_endpoint_auth_method: "none",
    };
  },
  clientInformation() {
    return this.stored.client;
  },
  saveClientInformation(client) {
    this.stored.client = client;
  },
  tokens() {
    return this.stored.tokens;
  },
  saveTokens(tokens) {
    this.stored.tokens = tokens;
  },
  redirectToAuthorization(authorizationUrl) {
    this.stored.authorize = authorizationUrl.toString();
  },
  saveCodeVerifier(verifier) {
    this.stored.verifier = verifier;
  },
  codeVerifier() {
    return this.stored.verifier;
  },
};

async function sdk() {
  const { Client } = await load("@modelcontextprotocol/sdk/dist/esm/client/index.js");
  const { StreamableHTTPClientTransport } = await load(
    "@modelcontextprotocol/sdk/dist/esm/client/streamableHttp.js",
  );
  return {
    client: () => new Client({ name: "giru-e2e-ts-sdk", version: "1.32.2" }),
    transport: () => new StreamableHTTPClientTransport(new URL(url), { authProvider: provider }),
    finish: (transport, landed) => transport.finishAuth(landed.searchParams.get("code")),
    version: (client, transport) => transport.protocolVersion,
    call: (client, params) => client.callTool(params),
  };
}

async function v2() {
  const module = await load("@modelcontextprotocol/client/dist/index.mjs");
  const mode = { pin: "2026-07-28" };
  return {
    client: () =>
      new module.Client(
        { name: "giru-e2e-ts-client", version: "2.4.0" },
        { versionNegotiation: { mode } },
      ),
    transport: () =>
      new module.StreamableHTTPClientTransport(new URL(url), { authProvider: provider }),
    finish: (transport, landed) => transport.finishAuth(landed.searchParams),
    version: (client, transport) =>
      client.getNegotiatedProtocolVersion() ?? transport.protocolVersion,
    call: (client, params) => client.callTool(params),
  };
}

// Connect and list the tools; the first attempt ends at the sign-in, the second is signed in.
async function listed(kit) {
  for (let attempt = 0; ; attempt += 1) {
    const client = kit.client();
    const transport = kit.transport();
    try {
      await client.connect(transport);
      const tools = await client.listTools();
      return { client, transport, tools: tools.tools.map((tool) => tool.name) };
    } catch (error) {
      if (attempt > 0 || !provider.stored.authorize) throw error;
      await client.close().catch(() => {});
    }
    console.log(JSON.stringify({ authorize: provider.stored.authorize }));
    const answer = await input.next();
    if (answer.done) throw new Error("no redirect URL on stdin");
    await kit.finish(transport, new URL(answer.value.trim()));
  }
}

const kit = flavour === "sdk" ? await sdk() : await v2();
const { client, transport, tools } = await listed(kit);
const result = await kit.call(client, {
  name: "clinic__echo",
  arguments: { text: `signed in via ${flavour}` },
});
const text = (result.content || [])
  .filter((block) => block.type === "text")
  .map((block) => block.text)
  .join("");
console.log(
  JSON.stringify({
    client: flavour,
    protocolVersion: kit.version(client, transport),
    clientId: provider.stored.client?.client_id ?? null,
    tools,
    isError: Boolean(result.isError),
    text,
  }),
);
await client.close();
process.exit(0);
