// SIGTERM on a real `serve` process under keep-alive load: it stops accepting, answers every
// request already sent (in flight, or arriving on an open keep-alive connection) with
// `Connection: close`, and exits within its bound. Requests are counted on raw sockets, so a
// reset of a request that was written is seen as lost, not retried away by a client library.
import test from 'ava';
import { once } from 'node:events';
import { connect, type Socket } from 'node:net';
import { writeConfig, EU_US_BINARY_CONFIG } from '../helpers/config.js';
import { startRedirectorProcess } from '../helpers/redirector.js';

const CONFIG = EU_US_BINARY_CONFIG;

interface Conn {
  socket: Socket;
  /** Requests written and not yet answered. */
  outstanding: number;
  answered: number;
  closedByServer: boolean;
  /** Resolves with each complete response's head. */
  next(): Promise<string>;
  send(): void;
}

/** A minimal HTTP/1.1 keep-alive client: answers are heads with Content-Length: 0 (redirects). */
async function open(port: number): Promise<Conn> {
  const socket = connect(port, '127.0.0.1');
  await once(socket, 'connect');
  let buffer = '';
  const waiting: ((head: string) => void)[] = [];
  const heads: string[] = [];
  const conn: Conn = {
    socket,
    outstanding: 0,
    answered: 0,
    closedByServer: false,
    next: () => new Promise((resolve) => (heads.length ? resolve(heads.shift()!) : waiting.push(resolve))),
    send() {
      conn.outstanding++;
      socket.write('GET /bin/tool HTTP/1.1\r\nHost: test\r\n\r\n');
    },
  };
  socket.setEncoding('latin1').on('data', (chunk: string) => {
    buffer += chunk;
    for (let end = buffer.indexOf('\r\n\r\n'); end !== -1; end = buffer.indexOf('\r\n\r\n')) {
      const head = buffer.slice(0, end);
      buffer = buffer.slice(end + 4);
      conn.outstanding--;
      conn.answered++;
      const waiter = waiting.shift();
      if (waiter) waiter(head);
      else heads.push(head);
    }
  });
  socket.on('error', () => {});
  socket.on('close', () => {
    conn.closedByServer = true;
    for (const waiter of waiting.splice(0)) waiter('');
  });
  return conn;
}

// One process, and a primary with two workers (each drains as one process does).
for (const args of [[], ['--workers', '2']]) {
  test(`SIGTERM under keep-alive load: zero requests lost, Connection: close, exit within the bound ${args.join(' ')}`.trim(), async (t) => {
    const server = await startRedirectorProcess(writeConfig(CONFIG), args);
    t.teardown(() => server.stop());
    const port = Number(new URL(server.url).port);

    // 40 busy connections sending one request after another, and 20 that sit idle until after
    // the signal and then send one request each (the case that was reset 20 of 20).
    const busy = await Promise.all(Array.from({ length: 40 }, () => open(port)));
    const idle = await Promise.all(Array.from({ length: 20 }, () => open(port)));
    for (const conn of idle) {
      conn.send();
      t.regex(await conn.next(), /^HTTP\/1\.1 302 .*\r\n(?![\s\S]*connection: close)/i);
    }
    let closeAnswers = 0;
    let lostOnBusy = 0;
    const loops = busy.map(async (conn) => {
      for (;;) {
        conn.send();
        const head = await conn.next();
        if (head === '') {
          lostOnBusy += conn.outstanding;
          return;
        }
        if (!head.startsWith('HTTP/1.1 302 ')) throw new Error(`unexpected answer: ${head}`);
        if (/\r\nconnection: close/i.test(head)) {
          closeAnswers++;
          return;
        }
      }
    });
    // Let the load run, then signal in the middle of it.
    await new Promise((resolve) => setTimeout(resolve, 500));
    const signalled = performance.now();
    const exited = once(server.child, 'exit');
    server.child.kill('SIGTERM');
    // With workers: the primary's line and then each worker's, once it drains.
    const processes = args.length === 0 ? 1 : 3;
    await server.waitForLog(new RegExp(`(shutting down[\\s\\S]*){${processes}}`), 15_000);
    // Requests on the idle keep-alive connections, sent after the server began draining.
    const late = await Promise.all(
      idle.map(async (conn) => {
        conn.send();
        return conn.next();
      }),
    );
    await Promise.all(loops);
    const [code] = (await exited) as [number | null];
    const elapsed = performance.now() - signalled;

    t.is(lostOnBusy, 0, 'no request written on a busy connection went unanswered');
    t.is(closeAnswers, busy.length, 'every busy connection was told Connection: close');
    for (const head of late) t.regex(head, /^HTTP\/1\.1 302 [\s\S]*\r\nconnection: close/i, 'a request on an idle keep-alive connection is answered');
    t.true(busy.reduce((n, c) => n + c.answered, 0) > 100, 'the load was running');
    t.is(code, 0);
    t.true(elapsed < 15_000, `exited in ${Math.round(elapsed)} ms`);
    // It no longer accepts.
    await t.throwsAsync(fetch(`${server.url}/bin/tool`, { redirect: 'manual' }));
    for (const conn of [...busy, ...idle]) conn.socket.destroy();
  });
}

test('SIGTERM closes connections that stay idle while draining, and exits soon after', async (t) => {
  const server = await startRedirectorProcess(writeConfig(CONFIG));
  t.teardown(() => server.stop());
  const conn = await open(Number(new URL(server.url).port));
  conn.send();
  await conn.next();
  const signalled = performance.now();
  const exited = once(server.child, 'exit');
  server.child.kill('SIGTERM');
  await once(conn.socket, 'close');
  await exited;
  const elapsed = performance.now() - signalled;
  t.true(elapsed < 10_000, `exited in ${Math.round(elapsed)} ms`);
  t.is(conn.outstanding, 0);
});
