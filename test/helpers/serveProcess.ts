// `spogw-native serve ...` in its own process (the built CLI), once it says where it listens; stop()
// sends SIGINT and returns everything it printed.
import { exitOf, spawnCli } from "./cli.js";

export interface ServeProcess {
  url: string;
  /** Sends SIGINT; resolves with the exit code and everything the command printed. */
  stop(): Promise<{ exitCode: number | null; output: string }>;
}

export async function startServeProcess(args: string[], env: Record<string, string> = {}): Promise<ServeProcess> {
  const child = spawnCli(["serve", ...args], env);
  let output = "";
  child.stdout!.on("data", (d: Buffer) => (output += d.toString()));
  child.stderr!.on("data", (d: Buffer) => (output += d.toString()));
  const exited = exitOf(child);
  const url = await new Promise<string>((resolve, reject) => {
    const poll = setInterval(() => {
      const match = /at (http:\/\/127\.0\.0\.1:\d+\/v1)/.exec(output);
      if (match) {
        clearInterval(poll);
        resolve(match[1]!);
      }
    }, 20);
    void exited.then(({ code }) => {
      clearInterval(poll);
      reject(new Error(`serve exited early (${code}): ${output}`));
    });
  });
  return {
    url,
    stop: async () => {
      child.kill("SIGINT");
      return { exitCode: (await exited).code, output };
    },
  };
}
