/**
 * Forwarding inspection events to Stately's inspector (@statelyai/inspect) for those who use it: a
 * WebSocket inspector at the URL given (e.g. one started with `createInspectorServer` from
 * `@statelyai/inspect/server`). Loaded only when asked for; the built-in inspector page needs none of it.
 */
import type { Logger } from 'pino';
import type { InspectionEvent } from 'xstate';

export interface StatelyForwarder {
  inspect(ev: InspectionEvent): void;
  stop(): void;
}

export async function statelyForwarder(url: string, logger: Logger): Promise<StatelyForwarder> {
  if (!/^wss?:\/\//.test(url)) throw new Error(`Stately inspector URL must start with ws:// or wss://, got '${url}'`);
  const { createWebSocketInspector } = await import('@statelyai/inspect');
  const inspector = createWebSocketInspector({ url });
  logger.info({ url }, 'sending inspection events to a Stately inspector');
  return {
    inspect: (ev) => inspector.inspect.next?.(ev),
    stop: () => inspector.stop(),
  };
}
