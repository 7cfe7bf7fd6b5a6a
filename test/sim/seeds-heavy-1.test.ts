/** Simulation seeds 1..50 with heavy faults (see seeds-common.ts). Same as:
 *  zab sim --seeds 50 --from 1 --nodes 3,5,7 --quorum all --faults heavy --txns 20 --clients 2 --min-fault-phase 600 */
import { seedRange } from './seeds-common.js';

seedRange('heavy', 1, 50);
