/** The part of autocannon (which ships no types) that bench/load.ts uses. */
declare module 'autocannon' {
  import type { EventEmitter } from 'node:events';

  namespace autocannon {
    type Request = {
      method?: string;
      path?: string;
      headers?: Record<string, string>;
      body?: string | Buffer;
      /** Called before every request is built; returns the request to send. */
      setupRequest?: (request: Request, context: Record<string, unknown>) => Request | undefined;
      /** Called with every response to this request (autocannon then collects bodies). */
      onResponse?: (status: number, body: string, context: Record<string, unknown>, headers: Record<string, string>) => void;
    };
    type Options = {
      url: string;
      connections?: number;
      /** Seconds; ignored when amount is set. */
      duration?: number;
      /** Exactly this many requests, spread over the connections; every one is answered. */
      amount?: number;
      /** Per-request timeout in seconds. */
      timeout?: number;
      pipelining?: number;
      sampleInt?: number;
      method?: string;
      headers?: Record<string, string>;
      body?: string;
      requests?: Request[];
    };
    type Result = {
      errors: number;
      timeouts: number;
      non2xx: number;
      resets: number;
      statusCodeStats: Record<string, { count: number }>;
    };
    /** Events: 'response' (client, statusCode, bytes, responseTimeMs), 'tick', 'done'. */
    type Instance = EventEmitter & { stop: () => void };
  }

  function autocannon(options: autocannon.Options, callback: (error: Error | null, result: autocannon.Result) => void): autocannon.Instance;
  export default autocannon;
}
