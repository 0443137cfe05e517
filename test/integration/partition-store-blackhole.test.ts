// PostgreSQL unreachable for 30 s, its connections blackholed: packets silently dropped, so queries hang (store-partition.scenario.ts).
import { storePartitionScenario } from './store-partition.scenario.js';

storePartitionScenario('blackhole');
