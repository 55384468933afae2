import { afterAll, describe, expect, it } from 'vitest';
import { pack as tarPack } from 'tar-stream';
import { randomUUID, testDocker } from '../support/docker.js';
import {
  buildImageFromContext,
  buildWorkloadImages,
  listWorkloadImages,
  removeWorkloadImages,
  WORKLOAD_IMAGES,
} from '../../plugins/spawner/images/workload-images.js';

const docker = testDocker();
// A private prefix so this file can remove what it built without touching tideflow/*.
const prefix = `tftest-${randomUUID().slice(0, 8)}`;

afterAll(async () => {
  await removeWorkloadImages(docker, { prefix, force: true }).catch(() => undefined);
});

/** Runs a one-shot command in an image and returns its stdout (multiplexed log stream stripped). */
async function runOnce(image: string, cmd: string[]): Promise<{ code: number; out: string }> {
  const c = await docker.createContainer({ Image: image, Cmd: cmd, Labels: { 'tideflow.test': prefix }, HostConfig: { NetworkMode: 'none' } });
  try {
    await c.start();
    const { StatusCode } = await c.wait();
    const buf = (await c.logs({ stdout: true, stderr: true, follow: false })) as unknown as Buffer;
    // Docker log frames: 8-byte header + payload.
    let out = '';
    for (let i = 0; i + 8 <= buf.length; ) {
      const len = buf.readUInt32BE(i + 4);
      out += buf.subarray(i + 8, i + 8 + len).toString();
      i += 8 + len;
    }
    return { code: StatusCode, out };
  } finally {
    await c.remove({ force: true });
  }
}

describe('workload images (real Docker)', () => {
  it('builds the four images from scratch + busybox, labelled, listable and removable', async () => {
    const built = await buildWorkloadImages(docker, { prefix, force: true });
    expect(built.map((b) => b.name).sort()).toEqual(WORKLOAD_IMAGES.map((w) => `${prefix}/${w.short}`).sort());
    expect(built.every((b) => b.built && b.id.startsWith('sha256:'))).toBe(true);

    const listed = await listWorkloadImages(docker, { prefix });
    expect(listed.map((l) => l.short).sort()).toEqual(['cpu-hog', 'mem-hog', 'sleeper', 'ticker']);

    const info = await docker.getImage(`${prefix}/cpu-hog`).inspect();
    expect(info.Config.Labels?.['tideflow.image']).toBe('cpu-hog');
    expect(info.Config.Cmd).toEqual(['sh', '-c', 'while :; do :; done']);

    // The image really works: applets resolve through the symlinks.
    const r = await runOnce(`${prefix}/sleeper`, ['sh', '-c', 'echo hello; ls /bin | wc -l']);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^hello\n\d{3}\n$/);

    // Second call without force keeps what exists.
    const again = await buildWorkloadImages(docker, { prefix });
    expect(again.every((b) => !b.built)).toBe(true);

    const removed = await removeWorkloadImages(docker, { prefix, force: true });
    expect(removed.sort()).toEqual(listed.map((l) => l.name).sort());
    expect(await listWorkloadImages(docker, { prefix })).toEqual([]);
  });

  it('builds the default tideflow/* images when missing (idempotent)', async () => {
    const r = await buildWorkloadImages(docker);
    expect(r.map((b) => b.name).sort()).toEqual(['tideflow/cpu-hog', 'tideflow/mem-hog', 'tideflow/sleeper', 'tideflow/ticker']);
    const listed = await listWorkloadImages(docker, { prefix: 'tideflow' });
    expect(listed.length).toBe(4);
  });

  it('a failed build is an error carrying the builder message', async () => {
    const p = tarPack();
    p.entry({ name: 'Dockerfile' }, 'FROM scratch\nRUN /definitely-not-here\n');
    p.finalize();
    await expect(buildImageFromContext(docker, p as unknown as NodeJS.ReadableStream, `${prefix}/broken`)).rejects.toThrow(
      new RegExp(`building ${prefix}/broken failed: .*(no such file|not found|executable file)`, 'i'),
    );
  });

  it('says what to install when busybox is missing', async () => {
    await expect(buildWorkloadImages(docker, { prefix: `${prefix}-nobb`, force: true, busybox: '/nonexistent/busybox' })).rejects.toThrow(/busybox-static/);
  });
});
