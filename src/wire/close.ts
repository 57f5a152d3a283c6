/**
 * What a WebSocket close frame can carry. `ws` throws on anything else (a TypeError for a code
 * outside RFC 6455's sendable set, a RangeError for a reason over 123 bytes), and a throw inside
 * a close path leaves the socket open for good. So every code and reason that reaches a close
 * goes through here first; peer-supplied codes are mapped, never trusted.
 */
import { CloseCode } from './constants';
import { boundedText } from './frames';

/** RFC 6455 §7.4: the codes an endpoint may send (1004-1006 are reserved, 1015+ and 2xxx unassigned). */
export function isSendableCloseCode(code: number): boolean {
  return (
    Number.isInteger(code) &&
    ((code >= 1000 && code <= 1014 && code !== 1004 && code !== 1005 && code !== 1006) ||
      (code >= 3000 && code <= 4999))
  );
}

/** A code this side is about to close with: kept when sendable, else PEER_ERROR (4002). */
export function sendableCloseCode(code: number): number {
  return isSendableCloseCode(code) ? code : CloseCode.PEER_ERROR;
}

/** The close code for an ERROR frame a peer sent: an error is never a normal closure (1000). */
export function peerCloseCode(code: number): number {
  return code === CloseCode.NORMAL ? CloseCode.PEER_ERROR : sendableCloseCode(code);
}

/** Most bytes a close frame's reason may have (125-byte control payload less the 2-byte code). */
export const MAX_CLOSE_REASON = 123;

/** `reason` cut to at most 123 UTF-8 bytes, never inside a character. */
export function closeReason(reason: string): string {
  return boundedText(reason, MAX_CLOSE_REASON).toString('utf8');
}
