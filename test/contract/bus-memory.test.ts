// The Bus contract on the in-memory bus (the default: one process).
import { MemoryBus } from '../../src/bus/memory.js';
import { busContract } from './bus.contract.js';

busContract('memory', async () => new MemoryBus());
