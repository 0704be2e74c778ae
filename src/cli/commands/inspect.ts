// `spogw-native inspect FILE`: the metadata and tensor table of a GGUF model or LoRA adapter.
import type { CommandModule } from "yargs";
import { formatMetadataValue, readGgufHeader, type GgufHeader, type GgufValue } from "../../gguf/index.js";
import { formatTable } from "../utils/timing.js";

interface InspectOptions {
  file: string;
  json: boolean;
  "max-items": number;
}

export const inspectCommand: CommandModule<object, InspectOptions> = {
  command: "inspect <file>",
  describe: "Show the metadata and tensor table of a GGUF model or LoRA adapter",
  builder: (y) =>
    y
      .positional("file", { type: "string", demandOption: true, describe: "GGUF file" })
      .option("json", { type: "boolean", default: false, describe: "print one JSON object (arrays in full)" })
      .option("max-items", { type: "number", default: 8, describe: "array items shown per metadata value" }),
  // async so that a thrown error goes to the CLI's failure handler (one line) rather than a stack trace
  handler: async (argv) => {
    const header = readGgufHeader(argv.file);
    process.stdout.write(argv.json ? `${JSON.stringify(headerAsJson(header))}\n` : `${describeHeader(argv.file, header, argv["max-items"])}\n`);
  },
};

export function describeHeader(path: string, header: GgufHeader, maxItems: number): string {
  const parameters = header.tensors.reduce((sum, t) => sum + t.elementCount, 0);
  const metadataRows = [["key", "type", "value"]];
  for (const [key, value] of header.metadata) metadataRows.push([key, typeName(value), formatMetadataValue(value, maxItems)]);
  const tensorRows = [["tensor", "type", "dims (ggml order)", "offset", "bytes"]];
  const typeCounts = new Map<string, number>();
  for (const t of header.tensors) {
    tensorRows.push([t.name, t.type.name, `[${t.dims.join(", ")}]`, String(t.absoluteOffset), String(t.byteLength)]);
    typeCounts.set(t.type.name, (typeCounts.get(t.type.name) ?? 0) + 1);
  }
  const types = [...typeCounts].map(([name, count]) => `${count} ${name}`).join(", ");
  return [
    `${path}: GGUF v${header.version}, ${header.fileSize} bytes, alignment ${header.alignment}, data section at byte ${header.dataOffset}`,
    "",
    `metadata (${header.metadata.size} entries)`,
    formatTable(metadataRows),
    "",
    `tensors (${header.tensors.length}, ${parameters} parameters; ${types})`,
    formatTable(tensorRows),
  ].join("\n");
}

function typeName(value: GgufValue): string {
  return value.type === "array" ? `${value.itemType}[${value.items.length}]` : value.type;
}

function headerAsJson(header: GgufHeader): unknown {
  const plain = (v: unknown): unknown => (typeof v === "bigint" ? v.toString() : v);
  return {
    version: header.version,
    fileSize: header.fileSize,
    alignment: header.alignment,
    dataOffset: header.dataOffset,
    metadata: Object.fromEntries(
      [...header.metadata].map(([key, v]) => [key, v.type === "array" ? { type: v.type, itemType: v.itemType, items: v.items.map(plain) } : { type: v.type, value: plain(v.value) }]),
    ),
    tensors: header.tensors.map((t) => ({ name: t.name, type: t.type.name, dims: t.dims, offset: t.absoluteOffset, bytes: t.byteLength })),
  };
}
