// The account SSH key every create carries when the caller names none. Both clouds e-mail a root password for
// every machine created without a key (vps-worker's `suppressCreateEmail`); with one they send nothing. Its private
// half is never kept, so the key opens nothing even where the image installs the account's keys.
import { generateEd25519 } from '../base/ed25519';

/** Found by name, made once per Hetzner project or DigitalOcean team. */
export const PROJECT_KEY_NAME = 'thebacknd';

/** A fresh public key for PROJECT_KEY_NAME; its private half is dropped here. */
export function projectPublicKey(): string {
  return generateEd25519('thebacknd: no private key; stops the cloud e-mailing root passwords').publicKey;
}
