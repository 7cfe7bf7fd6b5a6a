/**
 * ZooKeeper's znode path rules (PathUtils.validatePath): absolute, `/`-separated, no trailing slash
 * (except the root, or a sequential create's prefix, which gets the counter appended), no empty
 * components, no `.` or `..` components, no NUL and none of the control / private-use / surrogate
 * characters ZooKeeper refuses.
 */

/** Why `path` is not a valid znode path, or null when it is. `sequential`: a trailing slash is fine (the suffix follows). */
export function pathProblem(path: unknown, sequential = false): string | null {
  if (typeof path !== 'string') return 'path must be a string';
  if (path.length === 0) return 'path must not be empty';
  if (path[0] !== '/') return 'path must start with /';
  const p = sequential ? `${path}1` : path;
  if (p.length === 1) return null;
  if (p.endsWith('/')) return 'path must not end with /';
  const parts = p.slice(1).split('/');
  for (const part of parts) {
    if (part === '') return 'path must not contain an empty component (//)';
    if (part === '.' || part === '..') return 'relative paths (. and ..) are not allowed';
    for (let i = 0; i < part.length; i++) {
      const c = part.charCodeAt(i);
      if (c === 0) return 'path must not contain the NUL character';
      if ((c > 0x00 && c <= 0x1f) || (c >= 0x7f && c <= 0x9f) || (c >= 0xd800 && c <= 0xf8ff) || (c >= 0xfff0 && c <= 0xffff)) {
        return `invalid character \\u${c.toString(16).padStart(4, '0')} in path`;
      }
    }
  }
  return null;
}

/** The parent of a valid non-root path. */
export function parentOf(path: string): string {
  const i = path.lastIndexOf('/');
  return i <= 0 ? '/' : path.slice(0, i);
}

/** The last component of a valid non-root path. */
export function nameOf(path: string): string {
  return path.slice(path.lastIndexOf('/') + 1);
}

/** ZooKeeper's sequential suffix: the parent's cversion, zero-padded to 10 digits (%010d). */
export function sequenceSuffix(cversion: number): string {
  return cversion < 0 ? `-${String(-cversion).padStart(9, '0')}` : String(cversion).padStart(10, '0');
}
