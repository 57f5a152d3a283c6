/**
 * The pages' one connection to their feed (/ws, the URL's token passed on), in the browser.
 * Browser-shared module: no runtime imports.
 */
export function connectFeed<M>(
  onMessage: (message: M) => void,
  onConnected: (connected: boolean) => void,
): void {
  const token = new URLSearchParams(location.search).get('token');
  const ws = new WebSocket(`ws://${location.host}/ws${token ? `?token=${encodeURIComponent(token)}` : ''}`);
  ws.onopen = () => onConnected(true);
  ws.onmessage = (m) => onMessage(JSON.parse(String(m.data)) as M);
  ws.onclose = () => onConnected(false);
}
