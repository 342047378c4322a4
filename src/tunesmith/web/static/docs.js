"use strict";
// The API's reference, written from /api/openapi.json in the page (no documentation UI fetched from elsewhere).

(() => {
  const el = (tag, text, className) => {
    const node = document.createElement(tag);
    if (text !== undefined) node.textContent = text;
    if (className) node.className = className;
    return node;
  };

  function typeOf(schema, spec) {
    if (!schema) return "";
    if (schema.$ref) return schema.$ref.split("/").pop();
    if (schema.anyOf) return schema.anyOf.map((s) => typeOf(s, spec)).join(" | ");
    if (schema.type === "array") return `${typeOf(schema.items, spec)}[]`;
    let text = schema.type || "";
    const bounds = [];
    if (schema.minimum !== undefined) bounds.push(`>= ${schema.minimum}`);
    if (schema.maximum !== undefined) bounds.push(`<= ${schema.maximum}`);
    if (schema.maxLength !== undefined) bounds.push(`at most ${schema.maxLength} characters`);
    if (bounds.length) text += ` (${bounds.join(", ")})`;
    return text;
  }

  function schemaTable(name, schema, spec) {
    const box = el("div", undefined, "schema");
    box.append(el("h4", name));
    const table = el("table");
    const required = new Set(schema.required || []);
    for (const [field, prop] of Object.entries(schema.properties || {})) {
      const row = el("tr");
      row.append(el("td", field + (required.has(field) ? " *" : ""), "field"));
      row.append(el("td", typeOf(prop, spec), "type"));
      row.append(el("td", prop.description || ""));
      table.append(row);
    }
    box.append(table);
    return box;
  }

  async function show() {
    const root = document.getElementById("docs");
    let spec;
    try {
      spec = await (await fetch("/api/openapi.json")).json();
    } catch (err) {
      root.replaceChildren(el("p", `Cannot read /api/openapi.json: ${err.message}`, "error"));
      return;
    }
    root.replaceChildren(el("p", `${spec.info.title} ${spec.info.version}: ${spec.info.description || ""}`));
    for (const [path, methods] of Object.entries(spec.paths)) {
      for (const [method, op] of Object.entries(methods)) {
        const section = el("section", undefined, "op");
        section.append(el("h3", `${method.toUpperCase()} ${path}`));
        if (op.summary) section.append(el("p", op.summary));
        const params = op.parameters || [];
        if (params.length) {
          const list = el("ul");
          for (const p of params) list.append(el("li", `${p.name} (${p.in}${p.required ? ", required" : ""}): ${typeOf(p.schema, spec)}`));
          section.append(list);
        }
        const body = op.requestBody && op.requestBody.content["application/json"];
        if (body) section.append(el("p", `Body: ${typeOf(body.schema, spec)} (JSON)`));
        const answers = el("ul");
        for (const [code, r] of Object.entries(op.responses || {})) answers.append(el("li", `${code}: ${r.description}`));
        section.append(answers);
        root.append(section);
      }
    }
    root.append(el("h3", "Schemas"));
    for (const [name, schema] of Object.entries((spec.components || {}).schemas || {})) {
      root.append(schemaTable(name, schema, spec));
    }
    root.append(el("p", "Errors answer JSON {\"detail\": \"one sentence\"}.", "hint"));
  }

  document.addEventListener("DOMContentLoaded", show);
})();
