/** The destination simulator (stub while the protocol lands). */
import type { Transport } from '../link/index';

export interface DestinationOptions {
  token: string;
}

export class Destination {
  constructor(readonly options: DestinationOptions) {}

  /** Serve one migration over `transport`; a second one while busy is refused with BUSY. */
  attach(_transport: Transport): void {
    throw new Error('not implemented yet');
  }
}
