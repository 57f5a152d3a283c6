export { Destination, type DestinationEvent, type DestinationOptions } from './destination';
export { startDestinationServer, type DestinationServer, type DestinationServerOptions } from './server';
export type { ReceiverOutcome } from './receiver';
export { verifyImage, type EdgeChecker } from './verify';
