// The guided cache settings (walkthrough, "Choose Binary Cache…"): each answer validated before it is saved, with
// a sentence that says what a good value looks like. vscode-free, so the rules are unit-tested.

/** S3 bucket names (AWS rules, which Spaces, R2, B2 and MinIO share): 3–63 of a-z 0-9 . -, starting and ending alnum. */
export function bucketProblem(v: string): string | undefined {
  const b = v.trim();
  if (!b) return 'A bucket name is required.';
  if (b.length < 3 || b.length > 63) return 'Bucket names are 3 to 63 characters long.';
  if (!/^[a-z0-9][a-z0-9.-]*[a-z0-9]$/.test(b)) return 'Use lower-case letters, digits, dots and dashes, starting and ending with a letter or digit.';
  if (/\.\.|\.-|-\./.test(b) || /^\d+\.\d+\.\d+\.\d+$/.test(b)) return 'No ".." or ".-" in a bucket name, and it must not look like an IP address.';
  return undefined;
}

/** The S3 endpoint: https://host[:port] (http:// for a server on this computer). */
export function endpointProblem(v: string): string | undefined {
  let u: URL;
  try {
    u = new URL(v.trim());
  } catch {
    return 'Enter a URL such as https://ams3.digitaloceanspaces.com.';
  }
  if (u.protocol !== 'https:' && !(u.protocol === 'http:' && /^(127\.|localhost$|\[::1\]$)/.test(u.hostname))) {
    return 'The endpoint must start with https:// (http:// only for a server on this computer).';
  }
  if (u.search || u.hash || u.username) return 'Only scheme, host and port: no query, fragment or user name.';
  return undefined;
}

/** Where machines substitute from: empty (derived from endpoint and bucket), http(s)://… or s3://… */
export function publicUrlProblem(v: string): string | undefined {
  const s = v.trim();
  if (!s) return undefined;
  if (/^s3:\/\/[a-z0-9.-]+/.test(s)) return undefined;
  try {
    const u = new URL(s);
    if (u.protocol === 'https:' || u.protocol === 'http:') return undefined;
  } catch {
    /* below */
  }
  return 'Leave empty, or enter https://… (a public bucket or CDN) or s3://bucket?endpoint=… (private).';
}

/** DigitalOcean Spaces regions and their S3 endpoint. */
export const SPACES_REGIONS = ['ams3', 'fra1', 'lon1', 'nyc3', 'sfo2', 'sfo3', 'sgp1', 'syd1', 'blr1', 'tor1', 'atl1'] as const;
export const spacesEndpoint = (region: string): string => `https://${region}.digitaloceanspaces.com`;
