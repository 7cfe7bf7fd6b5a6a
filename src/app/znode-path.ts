/**
 * ZooKeeper's znode path rules (PathUtils.validatePath): absolute, `/`-separated, no trailing slash
 * (except the root, or a sequential create's prefix, which gets the counter appended), no empty
 * components, no `.` or `..` components, no NUL and none of the control / private-use / surrogate
 * characters ZooKeeper refuses.
 */

/**
 * Why `path` is not a valid znode path, or null when it is. `sequential`: a trailing slash is fine (the
 * suffix follows). One pass without allocation: every server checks the path of every txn it applies.
 */
export function pathProblem(path: unknown, sequential = false): string | null {
  if (typeof path !== 'string') return 'path must be a string';
  const n = path.length;
  if (n === 0) return 'path must not be empty';
  if (path.charCodeAt(0) !== SLASH) return 'path must start with /';
  if (n === 1) return null;
  if (!sequential && path.charCodeAt(n - 1) === SLASH) return 'path must not end with /';
  let start = 1; // first character of the current component
  for (let i = 1; i <= n; i++) {
    const c = i < n ? path.charCodeAt(i) : SLASH;
    if (c !== SLASH) {
      if (c === 0) return 'path must not contain the NUL character';
      if ((c > 0x00 && c <= 0x1f) || (c >= 0x7f && c <= 0x9f) || (c >= 0xd800 && c <= 0xf8ff) || (c >= 0xfff0 && c <= 0xffff)) {
        return `invalid character \\u${c.toString(16).padStart(4, '0')} in path`;
      }
      continue;
    }
    // A sequential create's last component gets the counter appended: never empty, never . or ..
    if (i < n || !sequential) {
      const len = i - start;
      if (len === 0) return 'path must not contain an empty component (//)';
      if (path.charCodeAt(start) === DOT && (len === 1 || (len === 2 && path.charCodeAt(start + 1) === DOT))) {
        return 'relative paths (. and ..) are not allowed';
      }
    }
    start = i + 1;
  }
  return null;
}

const SLASH = 0x2f;
const DOT = 0x2e;

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
