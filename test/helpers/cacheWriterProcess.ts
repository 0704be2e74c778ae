// Run as a separate process (vite-node) by responseCache.test.ts: writes `count` entries with keys
// `<prefix>-<i>` into the cache file, as another executor process sharing the cache would.
import { ResponseCache } from "../../src/executor/responseCache.js";

const [path, prefix, countText] = process.argv.slice(2);
const cache = new ResponseCache(path!);
for (let i = 0; i < Number(countText); i++) {
  cache.put(`${prefix}-${i}`, { text: `${prefix} answer ${i} `.repeat(20), finishReason: "stop", model: "m", usage: { promptTokens: i, completionTokens: 1 } });
}
cache.close();
process.stdout.write("done\n");
