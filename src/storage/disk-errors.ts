/**
 * Typed errors of the on-disk stores. Each message names the file and says what an operator can do,
 * because these errors stop a server and someone has to act on them.
 */

/** A record or header that cannot be a torn write: the log is damaged and must not be trusted blindly. */
export class LogCorruptionError extends Error {
  override readonly name = 'LogCorruptionError';
  constructor(
    readonly file: string,
    readonly offset: number,
    readonly detail: string,
  ) {
    super(
      `txn log corrupt: ${file} at byte offset ${offset}: ${detail}. ` +
        'This is not a torn last write, so records are not dropped silently. Keep a copy of the data directory for ' +
        'inspection; then either restore it from a healthy replica (delete this server\'s log and snapshot files and ' +
        'let it resync from the leader) or, if you accept losing everything from this offset on, truncate the file ' +
        `to ${offset} bytes and delete later log.* files.`,
    );
  }
}

/** A store file written for another cluster: most likely a wrong data directory in the configuration. */
export class ClusterIdMismatchError extends Error {
  override readonly name = 'ClusterIdMismatchError';
  constructor(
    readonly file: string,
    readonly expected: string,
    readonly found: string,
  ) {
    super(
      `${file} belongs to cluster '${found}', but this server is configured for cluster '${expected}'. ` +
        'Check the data directory in the configuration; if this server really moved to a new cluster, move the old ' +
        'files away (do not mix data of two clusters).',
    );
  }
}

/** An epoch file that does not hold an epoch number. */
export class EpochFileError extends Error {
  override readonly name = 'EpochFileError';
  constructor(
    readonly file: string,
    detail: string,
  ) {
    super(
      `epoch file ${file} is unreadable: ${detail}. It should hold one decimal number. If the rest of the data ` +
        'directory is healthy, restore the file from a backup; otherwise wipe this server\'s data and let it resync.',
    );
  }
}

/** acceptedEpoch < currentEpoch: a state Zab never writes, so the files were damaged or edited. */
export class EpochOrderError extends Error {
  override readonly name = 'EpochOrderError';
  constructor(
    readonly dir: string,
    readonly acceptedEpoch: number,
    readonly currentEpoch: number,
  ) {
    super(
      `in ${dir}: acceptedEpoch ${acceptedEpoch} < currentEpoch ${currentEpoch}, which Zab never writes ` +
        '(a server accepts an epoch before it makes it current). The epoch files were damaged or edited by hand. ' +
        'Do not just edit the numbers: wipe this server\'s data directory and let it resync from the ensemble.',
    );
  }
}

/** A store whose last write or sync failed: its on-disk state is unknown until it is reopened. */
export class StorageFailedError extends Error {
  override readonly name = 'StorageFailedError';
  constructor(what: string, cause: unknown) {
    super(
      `${what} failed earlier (${cause instanceof Error ? cause.message : String(cause)}); no further writes are ` +
        'accepted because after a failed fsync the page cache may not match the disk. Restart the server, which ' +
        'reopens and re-verifies the log.',
      { cause },
    );
  }
}
