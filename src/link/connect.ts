/** connectSource: open a transport to the destination and wrap it in a SourceSession. */
import type { ConnectOptions, SourceSession } from './index';
import { WireError } from '../wire/errors';

export async function connectSource(options: ConnectOptions): Promise<SourceSession> {
  throw new WireError('PRECOPY_ERR_USAGE', `connectSource(${options.transport}): not implemented yet`);
}
