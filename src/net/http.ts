// HEAD requests for availability checks over kept-alive connections. Node's fetch (undici)
// closes the connection after every HEAD (a guard against servers that send a body anyway), so
// each check paid a new TCP and TLS handshake: a distinct-object flood ran at ~250 checks/s on
// loopback, and on a real mirror a handshake is tens of milliseconds a client waits for.
// node:http keeps the connection; a HEAD answer has no body by definition there.
import { Agent as HttpAgent, request as httpRequest, type IncomingMessage } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import type { FetchLike, ResponseLike } from '../mirrors/health-prober.js';

// Idle sockets are closed after 30 s; at most 64 per mirror host (as many concurrent checks).
const agentOptions = { keepAlive: true, keepAliveMsecs: 1000, maxSockets: 64, maxFreeSockets: 64, timeout: 30_000 };
const httpAgent = new HttpAgent(agentOptions);
const httpsAgent = new HttpsAgent(agentOptions);

/** A FetchLike for HEAD over keep-alive agents; anything else goes to the global fetch. */
export const keepAliveHead: FetchLike = (url, init) => {
  if (init.method !== 'HEAD') return fetch(url, init);
  return new Promise<ResponseLike>((resolve, reject) => {
    let target: URL;
    try {
      target = new URL(url);
    } catch (error) {
      reject(error as Error);
      return;
    }
    const secure = target.protocol === 'https:';
    const request = (secure ? httpsRequest : httpRequest)(target, { method: 'HEAD', agent: secure ? httpsAgent : httpAgent, headers: init.headers, signal: init.signal }, (response: IncomingMessage) => {
      response.resume();
      resolve({
        status: response.statusCode ?? 0,
        headers: { get: (name) => headerValue(response.headers[name.toLowerCase()]) },
        body: null,
      });
    });
    request.on('error', reject);
    request.end();
  });
};

function headerValue(value: string | string[] | undefined): string | null {
  if (value === undefined) return null;
  return Array.isArray(value) ? value.join(', ') : value;
}
