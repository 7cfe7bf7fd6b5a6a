/**
 * acceptedEpoch and currentEpoch on disk, as ZooKeeper keeps them: two small files holding one decimal
 * number each, every write atomic (temp file, fsync, rename, directory fsync).
 *
 * load() reads what is on disk and never writes:
 *   - a missing currentEpoch file means 0 (fresh server);
 *   - a missing acceptedEpoch file means currentEpoch (ZooKeeper's default: acceptedEpoch is written
 *     first, so its absence with a currentEpoch present means it was lost, and currentEpoch is the
 *     least it can have been);
 *   - acceptedEpoch < currentEpoch is an EpochOrderError; a file that is not a number is an EpochFileError.
 * load() does not look at the log. A crash after the log or a snapshot holds txns of epoch e but before
 * currentEpoch = e is written (ZOOKEEPER-1653 / ZOOKEEPER-2354) is therefore not an error in load(): the
 * caller, who knows the highest zxid on disk, reconciles with reconcileWithLog(zxid).
 */
import fsp from 'node:fs/promises';
import path from 'node:path';
import pino, { type Logger } from 'pino';
import type { EpochStore, Epochs } from './ports.js';
import { epochOf, formatZxid, isZxid, MAX_EPOCH, type Zxid } from '../zxid.js';
import { EpochFileError, EpochOrderError } from './disk-errors.js';
import { removeTempFiles, writeFileAtomic } from './disk-fs.js';

export const ACCEPTED_EPOCH_FILE = 'acceptedEpoch';
export const CURRENT_EPOCH_FILE = 'currentEpoch';

export interface DiskEpochStoreOptions {
  logger?: Logger;
  /** fsync files and directory (default true). */
  fsync?: boolean;
}

export class DiskEpochStore implements EpochStore {
  private chain: Promise<unknown> = Promise.resolve();

  private constructor(
    readonly dir: string,
    private readonly sync: boolean,
    private readonly logger: Logger,
  ) {}

  /** Opens (creating `dir` if needed) and deletes temp files left by a crash during a write. */
  static async open(dir: string, opts: DiskEpochStoreOptions = {}): Promise<DiskEpochStore> {
    const sync = opts.fsync ?? true;
    const logger = (opts.logger ?? pino({ name: 'zab' }, pino.destination(2))).child({ component: 'epochs' });
    await fsp.mkdir(dir, { recursive: true });
    await removeTempFiles(dir, (n) => n === ACCEPTED_EPOCH_FILE || n === CURRENT_EPOCH_FILE, sync);
    return new DiskEpochStore(dir, sync, logger);
  }

  load(): Promise<Epochs> {
    return this.serial(() => this.read());
  }

  setAcceptedEpoch(epoch: number): Promise<void> {
    return this.serial(async () => {
      checkEpoch(epoch);
      await this.write(ACCEPTED_EPOCH_FILE, epoch);
    });
  }

  /** Refuses to make currentEpoch exceed acceptedEpoch: Zab accepts an epoch before making it current. */
  setCurrentEpoch(epoch: number): Promise<void> {
    return this.serial(async () => {
      checkEpoch(epoch);
      const { acceptedEpoch } = await this.read();
      if (epoch > acceptedEpoch) {
        throw new RangeError(`setCurrentEpoch(${epoch}) above acceptedEpoch ${acceptedEpoch}: call setAcceptedEpoch first`);
      }
      await this.write(CURRENT_EPOCH_FILE, epoch);
    });
  }

  /**
   * Repairs the crash window of ZOOKEEPER-1653/2354: `lastZxid` is the highest zxid in the snapshot or
   * log. If its epoch is above currentEpoch, the server logged txns of that epoch and crashed before
   * writing currentEpoch, so currentEpoch (and acceptedEpoch, if it is lower too) is raised to it,
   * durably, and a warning logged. Otherwise nothing is written. Returns the resulting epochs.
   */
  reconcileWithLog(lastZxid: Zxid): Promise<Epochs & { repaired: boolean }> {
    return this.serial(async () => {
      if (!isZxid(lastZxid)) throw new RangeError(`reconcileWithLog: not a zxid: ${String(lastZxid)}`);
      const epochs = await this.read();
      const logged = epochOf(lastZxid);
      if (logged <= epochs.currentEpoch) return { ...epochs, repaired: false };
      this.logger.warn(
        { dir: this.dir, lastZxid: formatZxid(lastZxid), ...epochs, newEpoch: logged },
        'epochs: the log holds txns of a later epoch than currentEpoch (crash before the epoch was written); raising currentEpoch',
      );
      if (epochs.acceptedEpoch < logged) await this.write(ACCEPTED_EPOCH_FILE, logged);
      await this.write(CURRENT_EPOCH_FILE, logged);
      return { acceptedEpoch: Math.max(epochs.acceptedEpoch, logged), currentEpoch: logged, repaired: true };
    });
  }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.chain.then(fn);
    this.chain = run.catch(() => undefined);
    return run;
  }

  private async read(): Promise<Epochs> {
    const current = await this.readFile(CURRENT_EPOCH_FILE);
    const accepted = await this.readFile(ACCEPTED_EPOCH_FILE);
    const currentEpoch = current ?? 0;
    if (accepted === undefined && current !== undefined) {
      this.logger.warn({ dir: this.dir, currentEpoch }, 'epochs: acceptedEpoch file missing; using currentEpoch');
    }
    const acceptedEpoch = accepted ?? currentEpoch;
    if (acceptedEpoch < currentEpoch) throw new EpochOrderError(this.dir, acceptedEpoch, currentEpoch);
    return { acceptedEpoch, currentEpoch };
  }

  private async readFile(name: string): Promise<number | undefined> {
    const file = path.join(this.dir, name);
    let text: string;
    try {
      text = await fsp.readFile(file, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw e;
    }
    if (!/^[0-9]{1,10}\n?$/.test(text)) throw new EpochFileError(file, `content ${JSON.stringify(text.slice(0, 40))} is not a decimal number`);
    const epoch = Number(text.trim());
    if (epoch > MAX_EPOCH) throw new EpochFileError(file, `${epoch} exceeds the largest epoch ${MAX_EPOCH}`);
    return epoch;
  }

  private write(name: string, epoch: number): Promise<void> {
    return writeFileAtomic(this.dir, name, Buffer.from(`${epoch}\n`), this.sync);
  }
}

function checkEpoch(epoch: number): void {
  if (!Number.isInteger(epoch) || epoch < 0 || epoch > MAX_EPOCH) throw new RangeError(`not an epoch: ${epoch}`);
}
