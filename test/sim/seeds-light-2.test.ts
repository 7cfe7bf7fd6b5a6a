/** Simulation seeds 51..100 with light faults (see seeds-common.ts). Same as:
 *  zab sim --seeds 50 --from 51 --nodes 3,5,7 --quorum all --faults light --txns 20 --clients 1 --min-fault-phase 1200 */
import { seedRange } from './seeds-common.js';

seedRange('light', 51, 50);
