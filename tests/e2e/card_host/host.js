// A small MCP Apps host for the approval card's browser test: an MCP client over streamable HTTP (same origin,
// proxied to the server) and the official host-side AppBridge that renders the card in a sandboxed iframe.
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import {
  AppBridge,
  PostMessageTransport,
  getToolUiResourceUri,
  isToolVisibilityAppOnly,
} from "@modelcontextprotocol/ext-apps/app-bridge";

const UI = "io.modelcontextprotocol/ui";
const MIME = "text/html;profile=mcp-app";
// The spec's default CSP for a View that declares no domains.
const CSP = "default-src 'none'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; " +
  "img-src 'self' data:; media-src 'self' data:; connect-src 'none'";
const DARK = {
  "--color-background-primary": "#1f1f1f", "--color-background-secondary": "#2a2a2a",
  "--color-text-primary": "#f2f2f2", "--color-text-secondary": "#b0b0b0", "--color-border-primary": "#444",
};

async function connect(apps) {
  const capabilities = apps ? { extensions: { [UI]: { mimeTypes: [MIME] } } } : {};
  const client = new Client({ name: "card-test-host", version: "1.0.0" }, { capabilities });
  await client.connect(new StreamableHTTPClientTransport(new URL("/mcp", location.href)));
  return client;
}

const host = {
  client: null,
  tools: [],
  modelContext: [],
  async start() {
    this.client = await connect(true);
    this.tools = (await this.client.listTools()).tools;
  },
  // What a compliant host gives the model: tools whose visibility includes "model".
  modelToolNames() {
    return this.tools.filter((tool) => !isToolVisibilityAppOnly(tool)).map((tool) => tool.name);
  },
  allToolNames() {
    return this.tools.map((tool) => tool.name);
  },
  async toolNamesWithoutApps() {
    const plain = await connect(false);
    const names = (await plain.listTools()).tools.map((tool) => tool.name);
    await plain.close();
    return names;
  },
  async callAsModel(name, args) {
    return await this.client.callTool({ name, arguments: args });
  },
  // The model's call; when the tool links a UI resource, the result is shown in it.
  async show(name, args, { theme = "light", width = 560 } = {}) {
    const tool = this.tools.find((t) => t.name === name);
    const result = await this.client.callTool({ name, arguments: args });
    const uri = tool && getToolUiResourceUri(tool);
    if (!uri) return { result, card: false };
    const read = await this.client.readResource({ uri });
    const html = read.contents[0].text.replace("<head>", `<head><meta http-equiv="Content-Security-Policy" content="${CSP}">`);
    const frame = document.createElement("iframe");
    frame.id = "card";
    frame.setAttribute("sandbox", "allow-scripts");
    frame.style.cssText = `width:${width}px;height:200px;border:0;display:block;background:transparent`;
    document.body.replaceChildren(frame);
    document.body.style.background = theme === "dark" ? "#111" : "#fff";
    const bridge = new AppBridge(this.client, { name: "card-test-host", version: "1.0.0" },
      { serverTools: {}, serverResources: {}, updateModelContext: { text: {} } },
      { hostContext: { theme, displayMode: "inline", platform: "web", styles: { variables: theme === "dark" ? DARK : {} } } });
    bridge.onsizechange = ({ height }) => { if (height) frame.style.height = `${height}px`; };
    bridge.onupdatemodelcontext = async (params) => { this.modelContext.push(params); return {}; };
    bridge.oninitialized = () => {
      bridge.sendToolInput({ arguments: args });
      bridge.sendToolResult(result);
    };
    // Listen before the document loads: the card says ui/initialize as soon as its script runs.
    await bridge.connect(new PostMessageTransport(frame.contentWindow, frame.contentWindow));
    frame.srcdoc = html;
    return { result, card: true };
  },
};
window.host = host;
