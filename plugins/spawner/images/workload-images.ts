import { LABELS } from '../../shared/containers/container-labels.js';
import { execFileSync } from 'node:child_process';
import { aptInstall, type InstallOptions } from '../../../core/services/system-installer.js';
import { readFileSync } from 'node:fs';
import type Docker from 'dockerode';
import { pack as tarPack } from 'tar-stream';
import type { ContainerClass } from '../../shared/records/container-records.js';

/** Label every workload image carries (value: the image's short name). */
export const IMAGE_LABEL = LABELS.image;
export const DEFAULT_IMAGE_PREFIX = 'tideflow';
export const DEFAULT_BUSYBOX = '/bin/busybox';

export interface WorkloadImage {
  /** Short name; the image is `<prefix>/<short>`. */
  short: string;
  class: ContainerClass;
  description: string;
  cmd: string[];
  /** Suggested limits the spawner uses when the workflow names none. */
  cpus: number;
  memory: string;
}

/**
 * The four built-in workloads. Commands run under busybox ash, which execs
 * the last command of `sh -c`; PID 1 ignores SIGTERM, so containers are
 * killed with SIGKILL (StopSignal / remove force), never "stopped".
 */
export const WORKLOAD_IMAGES: readonly WorkloadImage[] = [
  { short: 'cpu-hog', class: 'high', description: 'busy loop: uses its whole CPU limit', cmd: ['sh', '-c', 'while :; do :; done'], cpus: 0.1, memory: '16m' },
  {
    short: 'mem-hog',
    class: 'high',
    description: 'holds 48 MiB in tmpfs (charged to its memory cgroup), then idles',
    cmd: ['sh', '-c', 'dd if=/dev/zero of=/dev/shm/hog bs=1M count=48 2>/dev/null; while :; do sleep 3600; done'],
    cpus: 0.1,
    memory: '96m',
  },
  { short: 'sleeper', class: 'low', description: 'sleeps forever', cmd: ['sh', '-c', 'while :; do sleep 3600; done'], cpus: 0.05, memory: '16m' },
  { short: 'ticker', class: 'low', description: 'prints the time every second', cmd: ['sh', '-c', 'while :; do date; sleep 1; done'], cpus: 0.05, memory: '16m' },
];

export interface ImageBuildOptions {
  log?: (msg: string) => void;
  /** Rebuild even when the image exists. */
  force?: boolean;
  /** Repository prefix (tests use their own so they can remove what they built). */
  prefix?: string;
  /** Path of a static busybox binary. */
  busybox?: string;
  /** Build only these short names (default all four). */
  only?: string[];
  /** When the static busybox is missing: install busybox-static with these rules (root + apt, unless noInstall). */
  install?: InstallOptions;
}

export interface BuiltImage {
  name: string;
  id: string;
  built: boolean;
  ms: number;
}

export function workloadImageName(short: string, prefix = DEFAULT_IMAGE_PREFIX): string {
  return `${prefix}/${short}`;
}

/** The built-in workload behind an image name like `tideflow/cpu-hog` (any prefix), if any. */
export function findWorkload(imageName: string): WorkloadImage | undefined {
  const bare = imageName.replace(/:latest$/, '');
  const short = bare.slice(bare.lastIndexOf('/') + 1);
  return bare.includes('/') ? WORKLOAD_IMAGES.find((w) => w.short === short) : undefined;
}

/** True when the ELF file has no PT_INTERP, i.e. it runs in an empty image. */
function isStaticElf(buf: Buffer): boolean {
  if (buf.length < 64 || buf.readUInt32BE(0) !== 0x7f454c46 || buf[4] !== 2) return false; // ELF64 only
  const phoff = Number(buf.readBigUInt64LE(0x20));
  const phentsize = buf.readUInt16LE(0x36);
  const phnum = buf.readUInt16LE(0x38);
  for (let i = 0; i < phnum; i++) {
    if (buf.readUInt32LE(phoff + i * phentsize) === 3) return false; // PT_INTERP
  }
  return true;
}

function hasStaticBusybox(file: string): boolean {
  try {
    return isStaticElf(readFileSync(file));
  } catch {
    return false;
  }
}

function readBusybox(file: string): { binary: Buffer; applets: string[] } {
  let binary: Buffer;
  try {
    binary = readFileSync(file);
  } catch {
    throw new Error(`${file} not found: the workload images need a static busybox (apt-get install busybox-static)`);
  }
  if (!isStaticElf(binary)) throw new Error(`${file} is not a static x86-64 busybox (apt-get install busybox-static)`);
  const applets = execFileSync(file, ['--list'], { encoding: 'utf8' })
    .split('\n')
    .map((s) => s.trim())
    .filter((s) => s && s !== 'busybox' && /^[A-Za-z0-9_.\[-]+$/.test(s));
  return { binary, applets };
}

function dockerfile(w: WorkloadImage): string {
  return [
    'FROM scratch',
    'COPY rootfs/ /',
    'ENV PATH=/bin',
    `LABEL ${IMAGE_LABEL}="${w.short}" org.opencontainers.image.description="${w.description}"`,
    'STOPSIGNAL SIGKILL',
    `CMD ${JSON.stringify(w.cmd)}`,
    '',
  ].join('\n');
}

/** A docker build context: Dockerfile + rootfs/bin/busybox + one symlink per applet. */
export function buildContext(dockerfileText: string, busybox: { binary: Buffer; applets: string[] }): NodeJS.ReadableStream {
  const p = tarPack();
  p.entry({ name: 'Dockerfile', mode: 0o644 }, dockerfileText);
  p.entry({ name: 'rootfs/', type: 'directory', mode: 0o755 });
  p.entry({ name: 'rootfs/bin/', type: 'directory', mode: 0o755 });
  p.entry({ name: 'rootfs/tmp/', type: 'directory', mode: 0o1777 });
  p.entry({ name: 'rootfs/bin/busybox', mode: 0o755, size: busybox.binary.length }, busybox.binary);
  for (const a of busybox.applets) p.entry({ name: `rootfs/bin/${a}`, type: 'symlink', linkname: 'busybox', mode: 0o777 });
  p.finalize();
  return p as unknown as NodeJS.ReadableStream;
}

/**
 * Builds an image from a tar context. A failed build does not reject in
 * dockerode: the error arrives as an `error`/`errorDetail` event in the
 * progress stream, so we scan for it and throw with the builder's message.
 */
export async function buildImageFromContext(docker: Docker, context: NodeJS.ReadableStream, tag: string): Promise<string> {
  const stream = await docker.buildImage(context, { t: tag, rm: true, forcerm: true, networkmode: 'none' });
  const events: Array<Record<string, any>> = await new Promise((resolve, reject) => {
    docker.modem.followProgress(stream, (err: Error | null, res: any[]) => (err ? reject(err) : resolve(res ?? [])));
  });
  const failed = events.find((e) => e.error || e.errorDetail);
  if (failed) throw new Error(`building ${tag} failed: ${failed.errorDetail?.message ?? failed.error}`);
  const info = await docker.getImage(tag).inspect();
  return info.Id;
}

async function imageId(docker: Docker, name: string): Promise<string | null> {
  try {
    return (await docker.getImage(name).inspect()).Id;
  } catch (err) {
    if ((err as { statusCode?: number }).statusCode === 404) return null;
    throw err;
  }
}

/**
 * Builds the four workload images (FROM scratch + static busybox) without any
 * registry. Existing ones are left alone unless `force`. Used by `tideflow
 * images build` and by the spawner on its first run.
 */
export async function buildWorkloadImages(docker: Docker, opts: ImageBuildOptions = {}): Promise<BuiltImage[]> {
  const prefix = opts.prefix ?? DEFAULT_IMAGE_PREFIX;
  const wanted = WORKLOAD_IMAGES.filter((w) => !opts.only || opts.only.includes(w.short));
  const todo: WorkloadImage[] = [];
  const result: BuiltImage[] = [];
  for (const w of wanted) {
    const name = workloadImageName(w.short, prefix);
    const id = opts.force ? null : await imageId(docker, name);
    if (id) result.push({ name, id, built: false, ms: 0 });
    else todo.push(w);
  }
  if (todo.length === 0) return result;
  const file = opts.busybox ?? DEFAULT_BUSYBOX;
  if (opts.install && !hasStaticBusybox(file)) aptInstall(['busybox-static'], 'a static busybox for the workload images (busybox-static)', opts.install);
  const busybox = readBusybox(file);
  // Sequential: the shared COPY layer is cached after the first build.
  for (const w of todo) {
    const name = workloadImageName(w.short, prefix);
    const started = Date.now();
    const id = await buildImageFromContext(docker, buildContext(dockerfile(w), busybox), name);
    const ms = Date.now() - started;
    opts.log?.(`built ${name} (${id.slice(7, 19)}) in ${ms} ms`);
    result.push({ name, id, built: true, ms });
  }
  return result;
}

export interface ListedImage {
  name: string;
  id: string;
  short: string;
  sizeBytes: number;
}

/** Local images carrying the `tideflow.image` label (optionally only under one prefix). */
export async function listWorkloadImages(docker: Docker, opts: { prefix?: string } = {}): Promise<ListedImage[]> {
  const images = await docker.listImages({ filters: { label: [IMAGE_LABEL] } });
  const out: ListedImage[] = [];
  for (const img of images) {
    for (const tag of img.RepoTags ?? []) {
      if (tag === '<none>:<none>') continue;
      if (opts.prefix && !tag.startsWith(`${opts.prefix}/`)) continue;
      out.push({ name: tag.replace(/:latest$/, ''), id: img.Id, short: img.Labels?.[IMAGE_LABEL] ?? '', sizeBytes: img.Size });
    }
  }
  return out.sort((a, b) => a.name.localeCompare(b.name));
}

/** Removes the labelled workload images (optionally only under one prefix). Returns the names removed. */
export async function removeWorkloadImages(docker: Docker, opts: { prefix?: string; force?: boolean } = {}): Promise<string[]> {
  const list = await listWorkloadImages(docker, opts);
  const removed: string[] = [];
  for (const img of list) {
    try {
      await docker.getImage(img.name).remove({ force: opts.force ?? false });
      removed.push(img.name);
    } catch (err) {
      if ((err as { statusCode?: number }).statusCode !== 404) throw err;
    }
  }
  return removed;
}
