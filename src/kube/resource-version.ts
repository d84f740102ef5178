/**
 * resourceVersions are opaque by the API conventions, but every one this controller compares
 * comes from the same etcd, where they are its revisions: comparing them as numbers tells
 * "older than our write" apart. Anything that is not a number is treated as unknown.
 */
function revision(rv: string | undefined): bigint | undefined {
  return rv !== undefined && /^\d+$/.test(rv) ? BigInt(rv) : undefined;
}

/** Whether `a` is a later version of an object than `b`; false when either is unknown. */
export function isNewer(a: string | undefined, b: string | undefined): boolean {
  const ra = revision(a);
  const rb = revision(b);
  return ra !== undefined && rb !== undefined && ra > rb;
}
