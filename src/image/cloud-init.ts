// User-data for a stock cloud image (Debian, Ubuntu) that boots with cloud-init: the build worker's host key and
// login key, both made on this computer, so that the first SSH connection already checks the pinned host key.
// cloud-init's `ssh_keys` installs the host key before sshd starts (and `ssh_genkeytypes: []` makes no other), as
// vps-worker's ubuntu-init does. Written as JSON, which YAML (and so cloud-config) reads as it is: no quoting
// pitfalls with key material. Nothing else is in it: no token, no cache key.

export interface StockWorkerKeys {
  /** OpenSSH private key of the worker's ed25519 host key. */
  hostPrivateKey: string;
  hostPublicKey: string;
  /** `ssh-ed25519 AAAA…` allowed to log in as root. */
  loginPublicKey: string;
}

export const CLOUD_CONFIG_HEADER = '#cloud-config';

export function stockWorkerUserData(k: StockWorkerKeys): string {
  const config = {
    // Root logs in with the login key (cloud images otherwise point root at the default user and refuse it).
    disable_root: false,
    ssh_pwauth: false,
    ssh_authorized_keys: [k.loginPublicKey],
    ssh_deletekeys: true,
    ssh_genkeytypes: [],
    ssh_keys: { ed25519_private: k.hostPrivateKey, ed25519_public: k.hostPublicKey },
    package_update: false,
    package_upgrade: false,
  };
  return `${CLOUD_CONFIG_HEADER}\n${JSON.stringify(config, null, 2)}\n`;
}
