// One tool call from the TypeScript MCP SDK with every option at its default (its 60 s request timeout too),
// to the server given on the command line over stdio. Prints one JSON line: the result, or the error thrown.
//
// usage: node sdk_call.mjs <tool> <arguments as JSON> <server command> [args...]

import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";

const [tool, args, command, ...serverArgs] = process.argv.slice(2);
const transport = new StdioClientTransport({ command, args: serverArgs, env: { ...process.env }, stderr: "pipe" });
const client = new Client({ name: "e2e-typescript-sdk-call", version: "1.0.0" });
await client.connect(transport);
let report;
try {
  const result = await client.callTool({ name: tool, arguments: JSON.parse(args) });
  report = { isError: result.isError ?? false, data: result.structuredContent };
} catch (error) {
  report = { thrown: String(error?.message ?? error), code: error?.code ?? null };
}
await client.close();
process.stdout.write(JSON.stringify(report) + "\n");
