#!/usr/bin/env node
// Drives Portcullis with the official MCP TypeScript SDK (npm `@modelcontextprotocol/sdk`).
//
// Usage: node typescript_client.mjs MCP_URL TOKEN
//
// The SDK is loaded from $PORTCULLIS_TEST_NODE_MODULES, or by default from
// <repo>/target/test-clients/node/node_modules (installed by scripts/install-test-clients.sh).
// Connects with Client + StreamableHTTPClientTransport (bearer token in requestInit headers),
// lists the tools, runs a task through create -> list -> complete -> get -> delete, checks that
// an unknown task is a tool error of type `not_found_error`, and prints the negotiated protocol
// version. Exits 0 on success, 1 with a message on stderr on any failure.
// Run by crates/portcullis/tests/third_party_clients.rs.

import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { randomUUID } from 'node:crypto';

const EXPECTED_TOOLS = [
  'list_tasks',
  'get_task',
  'create_task',
  'update_task',
  'complete_task',
  'delete_task',
  'list_workspaces',
  'create_workspace',
];

class CheckFailed extends Error {}

function check(condition, message) {
  if (!condition) throw new CheckFailed(message);
}

const here = dirname(fileURLToPath(import.meta.url));
const nodeModules = resolve(
  process.env.PORTCULLIS_TEST_NODE_MODULES || join(here, '..', '..', 'target', 'test-clients', 'node', 'node_modules'),
);
const sdkRoot = join(nodeModules, '@modelcontextprotocol', 'sdk');

/** Resolves `subpath` (e.g. "./client/index.js") through the SDK's package.json `exports` (import condition). */
function sdkModule(subpath) {
  const exportsMap = JSON.parse(readFileSync(join(sdkRoot, 'package.json'), 'utf8')).exports;
  const pick = (target) => (typeof target === 'string' ? target : target?.import ?? target?.default);
  let target = pick(exportsMap[subpath]);
  if (!target) {
    for (const [pattern, value] of Object.entries(exportsMap)) {
      if (!pattern.includes('*')) continue;
      const [prefix, suffix] = pattern.split('*');
      if (subpath.startsWith(prefix) && subpath.endsWith(suffix) && subpath.length >= prefix.length + suffix.length) {
        const star = subpath.slice(prefix.length, subpath.length - suffix.length);
        target = pick(value)?.replace('*', star);
        break;
      }
    }
  }
  if (!target) throw new Error(`@modelcontextprotocol/sdk does not export ${subpath}`);
  return pathToFileURL(join(sdkRoot, target)).href;
}

async function callOk(client, name, args) {
  const result = await client.callTool({ name, arguments: args });
  check(!result.isError, `${name}(${JSON.stringify(args)}) returned isError=true: ${JSON.stringify(result)}`);
  check(
    result.structuredContent && typeof result.structuredContent === 'object',
    `${name}(${JSON.stringify(args)}) has no structuredContent object: ${JSON.stringify(result)}`,
  );
  return result.structuredContent;
}

async function main() {
  if (process.argv.length !== 4) {
    console.error(`usage: node ${process.argv[1]} MCP_URL TOKEN`);
    return 2;
  }
  const [url, token] = process.argv.slice(2);
  if (!existsSync(join(sdkRoot, 'package.json'))) {
    throw new CheckFailed(
      `@modelcontextprotocol/sdk not found under ${nodeModules}; run scripts/install-test-clients.sh`,
    );
  }
  const { version: sdkVersion } = JSON.parse(readFileSync(join(sdkRoot, 'package.json'), 'utf8'));
  const { Client } = await import(sdkModule('./client/index.js'));
  const { StreamableHTTPClientTransport } = await import(sdkModule('./client/streamableHttp.js'));

  const transportErrors = [];
  const transport = new StreamableHTTPClientTransport(new URL(url), {
    requestInit: { headers: { Authorization: `Bearer ${token}` } },
  });
  const client = new Client({ name: 'portcullis-typescript-test', version: '1.0.0' });
  client.onerror = (error) => transportErrors.push(error);

  try {
    await client.connect(transport);
    const version = transport.protocolVersion;
    console.log(`[typescript sdk ${sdkVersion}] negotiated protocol version: ${version}`);
    check(typeof version === 'string' && version.length > 0, 'no protocol version was negotiated');

    const { tools } = await client.listTools();
    const names = tools.map((t) => t.name).sort();
    const missing = EXPECTED_TOOLS.filter((n) => !names.includes(n));
    check(missing.length === 0, `tools/list is missing ${missing.join(', ')}; got ${names.join(', ')}`);
    console.log(`[typescript sdk] tools: ${names.join(', ')}`);

    const created = await callOk(client, 'create_task', { title: 'from typescript', description: 'ts' });
    const taskId = created.task?.id;
    check(typeof taskId === 'string' && taskId.length > 0, `create_task returned no task id: ${JSON.stringify(created)}`);
    check(created.task.title === 'from typescript', `create_task title: ${JSON.stringify(created)}`);
    check(created.task.description === 'ts', `create_task description: ${JSON.stringify(created)}`);

    const listed = await callOk(client, 'list_tasks', {});
    check(
      Array.isArray(listed.tasks) && listed.tasks.some((t) => t.id === taskId),
      `list_tasks does not contain ${taskId}: ${JSON.stringify(listed)}`,
    );

    const done = await callOk(client, 'complete_task', { task_id: taskId });
    check(done.task?.status === 'done', `complete_task: ${JSON.stringify(done)}`);
    check(done.task.completed_at != null, `complete_task set no completed_at: ${JSON.stringify(done)}`);

    const got = await callOk(client, 'get_task', { task_id: taskId });
    check(got.task?.status === 'done', `get_task after complete: ${JSON.stringify(got)}`);

    const deleted = await callOk(client, 'delete_task', { task_id: taskId });
    check(deleted.deleted === true, `delete_task: ${JSON.stringify(deleted)}`);

    const missingId = randomUUID();
    const notFound = await client.callTool({ name: 'get_task', arguments: { task_id: missingId } });
    check(notFound.isError === true, `get_task(${missingId}) should be a tool error: ${JSON.stringify(notFound)}`);
    check(
      notFound.structuredContent?.error_type === 'not_found_error',
      `get_task(${missingId}) error_type: ${JSON.stringify(notFound)}`,
    );

    check(
      transportErrors.length === 0,
      `the transport reported errors: ${transportErrors.map((e) => e?.stack ?? String(e)).join('\n')}`,
    );
    console.log(`typescript sdk OK; negotiated protocol version: ${version}`);
    return 0;
  } finally {
    await client.close().catch(() => {});
  }
}

main().then(
  (code) => process.exit(code),
  (error) => {
    if (error instanceof CheckFailed) {
      console.error(`FAIL [typescript sdk]: ${error.message}`);
    } else {
      console.error(`FAIL [typescript sdk]: ${error?.stack ?? error}`);
    }
    process.exit(1);
  },
);
