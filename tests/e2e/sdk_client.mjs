// A client this project did not write: the TypeScript MCP SDK over stdio, driving the server given on the
// command line through a whole create -> update -> delete round, then prompts, resources and completion.
// Prints one JSON report on stdout; the pytest that runs it makes the assertions.
//
// usage: node sdk_client.mjs <server command> [args...]   (the server's environment is this process's)

import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";

const [command, ...args] = process.argv.slice(2);
const SERVICE = "e2e-sdk";
const ITEM_TEMPLATE = "ubiops://projects/{project_name}/services/{service_name}";

const transport = new StdioClientTransport({ command, args, env: { ...process.env }, stderr: "pipe" });
const client = new Client({ name: "e2e-typescript-sdk", version: "1.0.0" });
await client.connect(transport);

// The SDK validates structuredContent against each tool's outputSchema, so a result that breaks its own
// schema fails here, not in the pytest.
const call = async (name, args) => {
  const result = await client.callTool({ name, arguments: args });
  return { isError: result.isError ?? false, data: result.structuredContent };
};

const report = { server: client.getServerVersion() };
report.tools = (await client.listTools()).tools.map((tool) => tool.name).sort();
report.create = await call("services_create", {
  data: { name: SERVICE, deployment: "hello-world", port: 8080, labels: { team: "e2e" } },
});
const change = { service_name: SERVICE, data: { port: 9090, version: "v2" } };
report.updatePreview = await call("services_update", change);
report.updateApplied = await call("services_update", {
  ...change,
  confirm: true,
  confirmation_token: report.updatePreview.data.confirmation_token,
});
report.resource = JSON.parse(
  (await client.readResource({ uri: `ubiops://projects/demo/services/${SERVICE}` })).contents[0].text,
);
report.completion = (
  await client.complete({
    ref: { type: "ref/resource", uri: ITEM_TEMPLATE },
    argument: { name: "service_name", value: "e2e" },
    context: { arguments: { project_name: "demo" } },
  })
).completion;
report.deletePreview = await call("services_delete", { service_name: SERVICE });
report.deleteApplied = await call("services_delete", {
  service_name: SERVICE,
  confirm: true,
  confirmation_token: report.deletePreview.data.confirmation_token,
});
report.listAfter = await call("services_list", {});
report.prompts = (await client.listPrompts()).prompts.map((prompt) => prompt.name).sort();
const prompt = await client.getPrompt({
  name: "change-service-safely",
  arguments: { service_name: SERVICE, change: "turn on authentication" },
});
report.promptText = prompt.messages[0].content.text;
report.templates = (await client.listResourceTemplates()).resourceTemplates.map((t) => t.uriTemplate).sort();

await client.close();
process.stdout.write(JSON.stringify(report) + "\n");
