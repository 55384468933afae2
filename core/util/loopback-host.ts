import { isIP } from 'node:net';

/** True for 127.0.0.0/8, ::1, ::ffff:127.x and `localhost`. */
export function isLoopbackHost(host: string): boolean {
  let h = host.trim().toLowerCase();
  if (h.startsWith('[') && h.endsWith(']')) h = h.slice(1, -1);
  if (h === 'localhost' || h.endsWith('.localhost')) return true;
  if (h.startsWith('::ffff:')) h = h.slice('::ffff:'.length);
  const kind = isIP(h);
  if (kind === 4) return h.startsWith('127.');
  if (kind === 6) return /^(0{0,4}:){7}0{0,3}1$|^::1$/.test(h);
  return false;
}
