// Building metadata values with their exact GGUF type, and reading typed values back out.
import type { GgufBigIntTypeName, GgufMetadata, GgufNumberTypeName, GgufValue } from "./types.js";

export const gguf = {
  string: (value: string): GgufValue => ({ type: "string", value }),
  bool: (value: boolean): GgufValue => ({ type: "bool", value }),
  uint32: (value: number): GgufValue => ({ type: "uint32", value }),
  int32: (value: number): GgufValue => ({ type: "int32", value }),
  float32: (value: number): GgufValue => ({ type: "float32", value: Math.fround(value) }),
  number: (type: GgufNumberTypeName, value: number): GgufValue => ({ type, value }),
  bigint: (type: GgufBigIntTypeName, value: bigint): GgufValue => ({ type, value }),
  strings: (items: string[]): GgufValue => ({ type: "array", itemType: "string", items }),
  numbers: (itemType: GgufNumberTypeName, items: number[]): GgufValue => ({ type: "array", itemType, items }),
};

/** A string value, or undefined when the key is absent or has another type. */
export function metadataString(metadata: GgufMetadata, key: string): string | undefined {
  const value = metadata.get(key);
  return value?.type === "string" ? value.value : undefined;
}

/** A numeric scalar (any integer or float type) as a JS number, or undefined. */
export function metadataNumber(metadata: GgufMetadata, key: string): number | undefined {
  const value = metadata.get(key);
  if (value === undefined || value.type === "array" || value.type === "string") return undefined;
  if (value.type === "bool") return undefined;
  return Number(value.value);
}

/** Renders a value for people: long arrays and strings are shortened, with their full length shown. */
export function formatMetadataValue(value: GgufValue, maxItems = 8, maxChars = 100): string {
  const one = (item: unknown, type: string): string => {
    if (typeof item === "string") {
      const quoted = JSON.stringify(item);
      return quoted.length > maxChars ? `${quoted.slice(0, maxChars)}... (${item.length} chars)` : quoted;
    }
    return type === "float32" && typeof item === "number" ? shortestFloat32(item) : String(item);
  };
  if (value.type !== "array") return one(value.value, value.type);
  const items: unknown[] = value.items;
  const shown = items.slice(0, maxItems).map((item) => one(item, value.itemType));
  const more = items.length > maxItems ? `, ... (${items.length} items)` : "";
  return `[${shown.join(", ")}${more}]`;
}

/** The shortest decimal that reads back as the same float32, so 1e-5 does not print as 0.000009999999747. */
function shortestFloat32(value: number): string {
  if (!Number.isFinite(value)) return String(value);
  for (let digits = 1; digits < 9; digits++) {
    const candidate = Number(value.toPrecision(digits));
    if (Math.fround(candidate) === value) return String(candidate);
  }
  return String(value);
}
