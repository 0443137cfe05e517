// PostgreSQL unreachable for 30 s, its connections cut and new ones refused (store-partition.scenario.ts).
import { storePartitionScenario } from './store-partition.scenario.js';

storePartitionScenario('cut');
