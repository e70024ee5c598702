/**
 * Renders the OpenAPI document as one self-contained HTML page: no script, no CDN, so the reference
 * works offline on a laptop as well as at the edge.
 */
type Operation = {
  summary?: string;
  tags?: string[];
  security?: unknown[];
  parameters?: { name: string; in: string; required?: boolean; schema?: unknown }[];
  requestBody?: { content?: Record<string, { schema?: unknown }> };
  responses?: Record<string, { description?: string; content?: Record<string, { schema?: unknown }> }>;
};
type Document = {
  info: { title: string; version: string; description?: string };
  paths: Record<string, Record<string, Operation>>;
  components?: { schemas?: Record<string, unknown> };
};

const escapeHtml = (text: string) => text.replace(/[&<>"']/g, (char) => `&#${char.charCodeAt(0)};`);

function schemaLink(schema: unknown): string {
  if (schema && typeof schema === "object" && "$ref" in schema && typeof schema.$ref === "string") {
    const name = schema.$ref.split("/").at(-1) ?? "";
    return `<a href="#schema-${escapeHtml(name)}">${escapeHtml(name)}</a>`;
  }
  return `<code>${escapeHtml(JSON.stringify(schema))}</code>`;
}

function operation(method: string, path: string, op: Operation): string {
  const params = (op.parameters ?? [])
    .map(
      (p) =>
        `<li><code>${escapeHtml(p.name)}</code> in ${escapeHtml(p.in)}${p.required ? " (required)" : ""}: ${schemaLink(p.schema)}</li>`,
    )
    .join("");
  const body = Object.entries(op.requestBody?.content ?? {})
    .map(([type, media]) => `<p>Body (${escapeHtml(type)}): ${schemaLink(media.schema)}</p>`)
    .join("");
  const responses = Object.entries(op.responses ?? {})
    .map(([status, response]) => {
      const media = Object.entries(response.content ?? {})
        .map(([type, m]) => ` ${escapeHtml(type)} ${schemaLink(m.schema)}`)
        .join("");
      return `<li><strong>${escapeHtml(status)}</strong> ${escapeHtml(response.description ?? "")}${media}</li>`;
    })
    .join("");
  const lock = op.security?.length ? ' <span class="auth">admin token</span>' : "";
  return `<section class="op"><h3><span class="m ${method}">${method.toUpperCase()}</span> <code>${escapeHtml(path)}</code>${lock}</h3>
<p>${escapeHtml(op.summary ?? "")}</p>${params ? `<p>Parameters</p><ul>${params}</ul>` : ""}${body}<p>Responses</p><ul>${responses}</ul></section>`;
}

/** `nonce` lets the page's one inline stylesheet through the Content-Security-Policy. */
export function renderDocs(doc: Document, nonce: string): string {
  const operations = Object.entries(doc.paths).flatMap(([path, methods]) =>
    Object.entries(methods).map(([method, op]) => ({ path, method, op, tag: op.tags?.[0] ?? "Other" })),
  );
  const byTag = Map.groupBy(operations, (entry) => entry.tag);
  const sections = [...byTag]
    .map(
      ([tag, ops]) =>
        `<h2 id="tag-${escapeHtml(tag)}">${escapeHtml(tag)}</h2>${ops.map((o) => operation(o.method, o.path, o.op)).join("")}`,
    )
    .join("");
  const schemas = Object.entries(doc.components?.schemas ?? {})
    .map(
      ([name, schema]) =>
        `<section id="schema-${escapeHtml(name)}"><h3>${escapeHtml(name)}</h3><pre>${escapeHtml(JSON.stringify(schema, null, 2))}</pre></section>`,
    )
    .join("");
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>${escapeHtml(doc.info.title)} API reference</title><style nonce="${escapeHtml(nonce)}">
body{font:15px/1.5 system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;color:#1a1a1a}
code,pre{font-family:ui-monospace,monospace;font-size:13px}pre{background:#f5f5f5;padding:.75rem;overflow:auto}
.op{border-top:1px solid #ddd;padding:.5rem 0}.m{display:inline-block;min-width:4.5rem;font-weight:700}
.get{color:#0a6}.post{color:#06c}.put{color:#a60}.delete{color:#c03}.auth{font-size:12px;background:#fde;padding:0 .4rem}
</style></head><body><h1>${escapeHtml(doc.info.title)} <small>${escapeHtml(doc.info.version)}</small></h1>
<p>${escapeHtml(doc.info.description ?? "")}</p><p>Machine-readable: <a href="/openapi.json">/openapi.json</a> (OpenAPI 3.1).</p>
${sections}<h2>Schemas</h2>${schemas}</body></html>`;
}
