/** A throwaway redis-server on 127.0.0.1 at a free port, no persistence; `stop()` ends it. */
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import IORedis from 'ioredis';

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

export interface RedisHandle {
  url: string;
  stop(): Promise<void>;
}

export async function startRedis(): Promise<RedisHandle> {
  const port = await freePort();
  const child: ChildProcess = spawn(
    'redis-server',
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
    { stdio: 'ignore' },
  );
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  let spawnError: Error | undefined;
  child.once('error', (e) => (spawnError = e));
  const url = `redis://127.0.0.1:${port}`;
  for (let attempt = 0; ; attempt++) {
    const client = new IORedis(url, {
      lazyConnect: true,
      maxRetriesPerRequest: 0,
      retryStrategy: () => null,
    });
    client.on('error', () => {}); // not up yet: the loop retries
    try {
      await client.connect();
      await client.ping();
      client.disconnect();
      break;
    } catch (e) {
      if (client.status !== 'end') client.disconnect();
      if (spawnError)
        throw new Error(
          `cannot start redis-server (${spawnError.message}); install it: bash scripts/ensure-redis.sh`,
        );
      if (attempt > 50) throw e;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  return {
    url,
    async stop() {
      child.kill('SIGTERM');
      await exited;
    },
  };
}
