// Separate Deno processes for tests of state shared through a store (Deno KV files): each child
// prints "ready", waits for "go" on its stdin, prints its result as one JSON line and exits 0.
import assert from "node:assert/strict";

interface DenoApi {
  execPath(): string;
  Command: new (cmd: string, o: Record<string, unknown>) => {
    spawn(): {
      stdin: WritableStream<Uint8Array>;
      stdout: ReadableStream<BufferSource>;
      status: Promise<{ code: number }>;
    };
  };
}
const deno = () => (globalThis as unknown as { Deno: DenoApi }).Deno;

/**
 * Starts `n` processes of `script` (`deno run -A --unstable-kv script ...args`) and waits until
 * every one is ready (connected before any starts: they contend). `go()` lets them all go;
 * `results()` reads each one's JSON line and checks it exited 0.
 */
export async function startChildren(script: URL, n: number, args: readonly string[]): Promise<{
  go(): Promise<void>;
  results<T>(): Promise<T[]>;
}> {
  const procs = Array.from({ length: n }, () =>
    new (deno().Command)(deno().execPath(), {
      args: ["run", "-A", "--unstable-kv", script.pathname, ...args],
      stdin: "piped",
      stdout: "piped",
      stderr: "inherit",
    }).spawn());
  const lines = procs.map((p) => p.stdout.pipeThrough(new TextDecoderStream()).getReader());
  const outputs = procs.map(() => "");
  const readLine = async (i: number) => {
    while (!outputs[i].includes("\n")) {
      const { value, done } = await lines[i].read();
      if (done) break;
      outputs[i] += value;
    }
    const [line, ...rest] = outputs[i].split("\n");
    outputs[i] = rest.join("\n");
    return line;
  };
  for (let i = 0; i < n; i++) assert.equal(await readLine(i), "ready");
  return {
    go: async () => {
      await Promise.all(procs.map(async (p) => {
        const w = p.stdin.getWriter();
        await w.write(new TextEncoder().encode("go\n"));
        await w.close();
      }));
    },
    results: async <T>() => {
      const results: T[] = [];
      for (let i = 0; i < n; i++) {
        results.push(JSON.parse(await readLine(i)) as T);
        await lines[i].cancel();
        assert.equal((await procs[i].status).code, 0);
      }
      return results;
    },
  };
}
