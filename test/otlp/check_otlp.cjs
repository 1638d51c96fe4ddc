// check_otlp.cjs -- decode OTLP/HTTP JSON logs payloads with the
// OpenTelemetry project's own protocol definitions (the protobufjs code
// generated from opentelemetry-proto that @opentelemetry/otlp-transformer
// ships, pinned by package-lock.json) and print what they hold.
//
// Reads one payload (a JSON ExportLogsServiceRequest) a line on stdin.
// For each: fromObject() -> verify() (types of every field the message
// defines) -> encode() to protobuf -> decode() -> toObject() in the
// OTLP JSON mapping (64-bit integers as strings, bytes as base64); the
// round trip must give back exactly the input, so a field the definitions
// do not know, or know under another name or type, fails. Prints the
// decoded object a line, or "ERROR: why" and exits 1.
"use strict";
const root = require("@opentelemetry/otlp-transformer/build/src/generated/root");
const Request = root.opentelemetry.proto.collector.logs.v1.ExportLogsServiceRequest;
const readline = require("readline");

// Keys sorted; empty lists dropped (toObject leaves them out).
function canonical(value) {
  if (Array.isArray(value)) return value.map(canonical);
  if (value && typeof value === "object") {
    const out = {};
    for (const key of Object.keys(value).sort())
      if (!(Array.isArray(value[key]) && value[key].length === 0)) out[key] = canonical(value[key]);
    return out;
  }
  return value;
}

let failed = false;
const rl = readline.createInterface({ input: process.stdin });
rl.on("line", (line) => {
  if (!line.trim()) return;
  const input = JSON.parse(line);
  const message = Request.fromObject(input);
  const problem = Request.verify(message);
  if (problem) {
    console.log("ERROR: verify: " + problem);
    failed = true;
    return;
  }
  const bytes = Request.encode(message).finish();
  const decoded = Request.toObject(Request.decode(bytes), { longs: String, enums: Number, bytes: String, defaults: false });
  const a = JSON.stringify(canonical(input));
  const b = JSON.stringify(canonical(decoded));
  if (a !== b) {
    console.log("ERROR: the payload does not survive the official definitions unchanged:\n  sent    " + a + "\n  decoded " + b);
    failed = true;
    return;
  }
  console.log(JSON.stringify(decoded));
});
rl.on("close", () => process.exit(failed ? 1 : 0));
