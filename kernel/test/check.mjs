// Host-side checks of the qemu guest's console (see guest-init.sh).
// node check.mjs --console <log> --env <tf.env> --out <dir> [--fixtures <dir>]
// Prints "ok <check>" / "FAIL <check>: <detail>" lines; exits 1 on any failure.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const args = {};
for (let i = 2; i < process.argv.length; i += 2) args[process.argv[i].slice(2)] = process.argv[i + 1];

let passed = 0;
let failed = 0;
function check(name, cond, detail = '') {
  if (cond) {
    passed++;
    console.log(`ok ${name}`);
  } else {
    failed++;
    console.log(`FAIL ${name}${detail ? `: ${detail}` : ''}`);
  }
  return cond;
}
const show = (v) => JSON.stringify(v)?.slice(0, 300);

const env = Object.fromEntries(
  readFileSync(args.env, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => l.split('=')),
);
const lines = readFileSync(args.console, 'latin1').replace(/\r/g, '').split('\n');
const proto = lines.filter((l) => l.includes('@@TF ')).map((l) => l.slice(l.indexOf('@@TF ') + 5));

// --- blocks between "@@TF BEGIN name" and "@@TF END name rc=N" ------------
const blocks = new Map();
for (let i = 0; i < lines.length; i++) {
  const b = /^@@TF BEGIN (\S+)$/.exec(lines[i]);
  if (!b) continue;
  const body = [];
  let rc = null;
  for (i++; i < lines.length; i++) {
    const e = /^@@TF END (\S+) rc=(\d+)$/.exec(lines[i]);
    if (e && e[1] === b[1]) {
      rc = Number(e[2]);
      break;
    }
    body.push(lines[i]);
  }
  // the console was read as latin1 to keep bytes; JSON text is UTF-8
  blocks.set(b[1], { text: Buffer.from(body.join('\n'), 'latin1').toString('utf8').trim(), rc });
}

const outDir = args.out;
mkdirSync(outDir, { recursive: true });
const parsed = new Map();
function parse(name) {
  if (parsed.has(name)) return parsed.get(name);
  const b = blocks.get(name);
  let doc = null;
  let err = 'no such capture';
  if (b) {
    writeFileSync(join(outDir, `${name}.json`), b.text + '\n');
    try {
      doc = JSON.parse(b.text);
      err = '';
    } catch (e) {
      err = String(e);
    }
    if (b.rc !== 0) err = `reader exited ${b.rc}; ${err}`;
  }
  check(`${name}: JSON parses`, doc !== null && err === '', err);
  parsed.set(name, doc);
  return doc;
}

function wellFormed(name, doc) {
  if (!doc) return;
  const p = doc.processes;
  const shapeOk =
    doc.version === 1 &&
    typeof doc.kernel === 'string' &&
    Number.isSafeInteger(doc.timestamp_ns) &&
    typeof doc.list_all === 'boolean' &&
    doc.truncated === false &&
    Array.isArray(p) &&
    doc.process_count === p.length &&
    p.every(
      (r) =>
        Number.isInteger(r.pid) &&
        r.pid > 0 &&
        Number.isInteger(r.ns_pid) &&
        typeof r.in_pid_ns === 'boolean' &&
        typeof r.comm === 'string' &&
        Number.isInteger(r.rss_kb) &&
        Number.isSafeInteger(r.cpu_ns) &&
        Number.isInteger(r.threads) &&
        typeof r.cgroup === 'string' &&
        r.cgroup.startsWith('/') &&
        (r.container_id === null || /^[0-9a-f]{64}$/.test(r.container_id)),
    ) &&
    new Set(p.map((r) => r.pid)).size === p.length;
  check(`${name}: fields well-formed, process_count matches, pids unique`, shapeOk, show(doc).slice(0, 300));
}

// --- guest status lines -----------------------------------------------------
const kv = (prefix) => proto.filter((l) => l.startsWith(prefix + ' ')).map((l) => l.slice(prefix.length + 1));
const flag = (prefix) => kv(prefix)[0];

check('v1 pids hierarchy mounted in guest', proto.includes('v1 pids'));
check('guest setup had no errors', !proto.some((l) => l.startsWith('guest-error')), show(kv('guest-error')));
check('insmod succeeded', flag('insmod') === 'rc=0', flag('insmod'));

const groups = new Map(); // name -> {id, pids}
for (const g of kv('group')) {
  const [name, id, ...pids] = g.trim().split(/\s+/);
  groups.set(name, { id: id === '-' ? null : id, pids: pids.map(Number) });
}
const nspid = new Map();
for (const l of kv('pid')) {
  const [pid, , ...fields] = l.trim().split(/\s+/);
  nspid.set(Number(pid), fields.map(Number));
}

const ID = (n) => env[`ID${n}`];
const POD = env.POD_UID;
const WEIRD_CG = `/system.slice/crio-${ID(8)}.scope/we"ird\\na\tme\ufffd`;
const containers = {
  C1: { id: ID(1), runtime: 'docker', cgroup: `/system.slice/docker-${ID(1)}.scope` },
  C2: { id: ID(2), runtime: 'docker', cgroup: `/docker/${ID(2)}` },
  C3: {
    id: ID(3),
    runtime: 'containerd',
    cgroup: `/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${POD}.slice/cri-containerd-${ID(3)}.scope`,
  },
  C4: { id: ID(4), runtime: 'docker', cgroup: `/docker/${ID(4)}` },
  C5: { id: ID(5), runtime: 'podman', cgroup: `/machine.slice/libpod-${ID(5)}.scope` },
  C6: { id: ID(6), runtime: 'kubernetes', cgroup: `/kubepods/besteffort/pod${POD}/${ID(6)}` },
  C7: { id: ID(7), runtime: 'custom', cgroup: `/tfbox-${ID(7)}` },
  C8: { id: ID(8), runtime: 'cri-o', cgroup: WEIRD_CG },
  X1: { id: null, runtime: 'custom', cgroup: '/lxc.payload.web' },
  C10: { id: ID(10), runtime: 'docker', cgroup: `/docker/${ID(10)}` },
  C10D: { id: ID(10), runtime: 'docker', cgroup: `/docker/${ID(10)}` + `/${'\u0001'.repeat(200)}`.repeat(4) },
};
const hostGroups = ['H1', 'H2', 'H3', 'H4'];
check(
  'guest reported every fake container and host group',
  [...Object.keys(containers), ...hostGroups].every((g) => groups.get(g)?.pids.length > 0),
  show([...groups]),
);
const containerPids = new Set(Object.keys(containers).flatMap((g) => groups.get(g)?.pids ?? []));
const hostPids = new Set(hostGroups.flatMap((g) => groups.get(g)?.pids ?? []));

function checkContainers(name, doc, { exact }) {
  if (!doc) return;
  const byPid = new Map(doc.processes.map((r) => [r.pid, r]));
  for (const [g, exp] of Object.entries(containers)) {
    const pids = groups.get(g)?.pids ?? [];
    const rows = pids.map((p) => byPid.get(p));
    const bad = rows.filter(
      (r) => !r || r.container_id !== exp.id || r.runtime !== exp.runtime || r.cgroup !== exp.cgroup,
    );
    check(
      `${name}: ${g} processes found with container id ${exp.id ? exp.id.slice(0, 12) : 'null'} (${exp.runtime})`,
      pids.length > 0 && bad.length === 0,
      `expected pids ${pids}; bad ${show(bad)}`,
    );
    if (exp.id && exact) {
      const sameId = Object.entries(containers)
        .filter(([, e]) => e.id === exp.id)
        .flatMap(([other]) => groups.get(other)?.pids ?? []);
      const extra = doc.processes.filter((r) => r.container_id === exp.id && !sameId.includes(r.pid));
      check(`${name}: ${g} has no foreign processes`, extra.length === 0, show(extra));
    }
  }
  const nsBad = doc.processes.filter((r) => {
    const f = nspid.get(r.pid);
    if (!f) return false;
    return r.ns_pid !== f[f.length - 1] || r.in_pid_ns !== f.length > 1;
  });
  check(`${name}: ns_pid and in_pid_ns match /proc/<pid>/status NSpid`, nsBad.length === 0, show(nsBad));
  const leaked = doc.processes.filter((r) => hostPids.has(r.pid));
  if (!doc.list_all) {
    check(`${name}: host processes (incl. conmon, 63-hex, docker.service) not listed`, leaked.length === 0, show(leaked));
  }
}

// --- read1 / read2: the fixtures --------------------------------------------
const r1 = parse('read1');
const r2 = parse('read2');
wellFormed('read1', r1);
wellFormed('read2', r2);
checkContainers('read1', r1, { exact: true });
checkContainers('read2', r2, { exact: true });
if (r1) {
  const others = r1.processes.filter((r) => !containerPids.has(r.pid));
  check('read1: lists exactly the container processes (nothing from the host)', others.length === 0, show(others));
  check('read1: list_all is false by default', r1.list_all === false);
  const inNs = r1.processes.filter((r) => r.in_pid_ns).length;
  check('read1: processes inside PID namespaces are flagged', inNs >= 5, `in_pid_ns count ${inNs}`);

  const memTotal = Number(flag('meminfo'));
  const m = r1.memory ?? {};
  check(
    'read1: memory total_kb == /proc/meminfo MemTotal, free/available <= total, used == total - available',
    m.total_kb === memTotal &&
      m.free_kb > 0 &&
      m.free_kb <= m.total_kb &&
      m.available_kb > 0 &&
      m.available_kb <= m.total_kb &&
      m.used_kb === m.total_kb - m.available_kb,
    `${show(m)} MemTotal=${memTotal}`,
  );

  check('read1: 200+ processes of one container listed', r1.processes.filter((r) => r.container_id === ID(10)).length >= 202);
  const long = JSON.stringify(r1.processes.find((r) => groups.get('C10D')?.pids.includes(r.pid)) ?? null);
  check('read1: a record longer than a page (4.8 KB escaped cgroup path) is complete', long.length > 4096, `${long.length} chars`);
  const comm = r1.processes.find((r) => groups.get('C3')?.pids.includes(r.pid) && r.comm.startsWith('q'));
  const want = 'q"\\\u0001\n\ufffd\u00e9\ufffd\ufffdz';
  check('read1: comm with quote, backslash, control bytes and invalid UTF-8 escaped correctly', comm?.comm === want,
    `got ${show(comm?.comm)} want ${show(want)}`);
  const weird = r1.processes.find((r) => r.container_id === ID(8));
  check('read1: cgroup path with quote, backslash, tab and 0xff escaped correctly', weird?.cgroup === WEIRD_CG,
    `got ${show(weird?.cgroup)}`);

  const [allocPid, before] = (flag('vmrss-before') ?? '').split(' ').map(Number);
  const [, after] = (flag('vmrss-after') ?? '').split(' ').map(Number);
  const alloc = r1.processes.find((r) => r.pid === allocPid);
  check(
    'read1: RSS of the 24 MiB allocation matches /proc/<pid>/status VmRSS',
    alloc !== undefined && alloc.rss_kb >= 24 * 1024 && alloc.rss_kb >= Math.min(before, after) && alloc.rss_kb <= Math.max(before, after),
    `module ${alloc?.rss_kb} kB, VmRSS before ${before} after ${after}`,
  );
  const spinner = r1.processes.find((r) => groups.get('C1')?.pids.includes(r.pid) && r.comm === 'tfhelper');
  check('read1: threads of the 1-thread spinner counted (2 with main)', spinner?.threads === 2, show(spinner));
}
if (r1 && r2) {
  const dWall = r2.timestamp_ns - r1.timestamp_ns;
  const cpu = (doc, id) => doc.processes.filter((r) => r.container_id === id).reduce((s, r) => s + r.cpu_ns, 0);
  const pct = (id) => (100 * (cpu(r2, id) - cpu(r1, id))) / dWall;
  check('read2 is later than read1 (timestamp_ns)', dWall > 0.5e9, `${dWall} ns`);
  check('CPU% of the spinning container > 50 between read1 and read2', pct(ID(1)) > 50, `${pct(ID(1)).toFixed(1)} %`);
  check('CPU% of the sleeping container < 5 between read1 and read2', pct(ID(4)) < 5, `${pct(ID(4)).toFixed(1)} %`);
  if (args.fixtures) {
    mkdirSync(args.fixtures, { recursive: true });
    writeFileSync(join(args.fixtures, 'sysinfo-1.json'), blocks.get('read1').text + '\n');
    writeFileSync(join(args.fixtures, 'sysinfo-2.json'), blocks.get('read2').text + '\n');
    console.log(`# fixtures written to ${args.fixtures}`);
  }
}

// --- small reads ---------------------------------------------------------------
for (const name of ['small', 'small3']) {
  const d = parse(name);
  wellFormed(name, d);
  checkContainers(name, d, { exact: true });
}

// --- list_all ----------------------------------------------------------------
const all = parse('all');
wellFormed('all', all);
checkContainers('all', all, { exact: true });
if (all) {
  const counts = kv('proc-count').map(Number);
  check('all: list_all is true', all.list_all === true);
  check(
    'all: lists every process of the guest (count within the /proc listing)',
    all.process_count >= Math.min(...counts) - 5 && all.process_count <= Math.max(...counts) + 5,
    `module ${all.process_count}, /proc ${counts}`,
  );
  const init = all.processes.find((r) => r.pid === 1);
  check('all: pid 1 listed with container_id null and cgroup "/"', init?.container_id === null && init?.cgroup === '/', show(init));
  const kthreadd = all.processes.find((r) => r.pid === 2);
  check('all: kernel thread kthreadd listed with rss_kb 0', kthreadd?.comm === 'kthreadd' && kthreadd.rss_kb === 0, show(kthreadd));
  const h1 = all.processes.filter((r) => groups.get('H1').pids.includes(r.pid));
  check('all: host service process has its cgroup and no container id',
    h1.length > 0 && h1.every((r) => r.container_id === null && r.cgroup === '/system.slice/sshd.service'), show(h1));
  const h3 = all.processes.filter((r) => groups.get('H3').pids.includes(r.pid));
  check('all: conmon process is not a container', h3.length > 0 && h3.every((r) => r.container_id === null), show(h3));
}

// --- churn ---------------------------------------------------------------------
const churnNames = [...blocks.keys()].filter((n) => /^churn(all)?\d+$/.test(n));
check('churn: 12 reads captured under process/thread/namespace/cgroup churn', churnNames.length === 12, show(churnNames));
let churnOk = 0;
let churnSeen = 0;
for (const name of churnNames) {
  const b = blocks.get(name);
  let d = null;
  try {
    d = JSON.parse(b.text);
    writeFileSync(join(outDir, `${name}.json`), b.text + '\n');
  } catch {}
  const stable = [...containerPids].every((p) => d?.processes.some((r) => r.pid === p));
  const wf =
    d &&
    b.rc === 0 &&
    d.process_count === d.processes.length &&
    d.processes.every((r) => r.cgroup.startsWith('/') && (r.container_id === null || /^[0-9a-f]{64}$/.test(r.container_id)));
  if (wf && stable) churnOk++;
  else console.log(`# ${name}: rc=${b.rc} parse=${d !== null} stable=${stable}`);
  churnSeen += d?.processes.filter((r) => r.container_id === ID(9)).length ?? 0;
}
check('churn: every read parses, is consistent and still lists all stable container processes', churnOk === churnNames.length && churnOk > 0, `${churnOk}/${churnNames.length}`);
check('churn: processes of the churning container are seen with its id', churnSeen > 0, `${churnSeen}`);

// --- unload ----------------------------------------------------------------------
check('rmmod while a reader holds the file open succeeds', flag('rmmod-open') === 'rc=0', flag('rmmod-open'));
check('reading the open file after rmmod fails cleanly', flag('read-after-rmmod') === 'failed', flag('read-after-rmmod'));
check('/proc/tideflow_sysinfo gone after rmmod', flag('proc-after-rmmod') === 'absent');
check('module loads again (list_all=1 as a load parameter)', flag('reinsmod') === 'rc=0');
const reload = parse('reload');
check('reload: list_all parameter honoured', reload?.list_all === true && reload.process_count > 10);
check('final rmmod succeeds and removes the file', flag('rmmod') === 'rc=0' && flag('proc-final') === 'absent');
const dmesg = blocks.get('dmesg')?.text ?? '';
check('dmesg shows the module loading and unloading', /tideflow_sysinfo: loaded/.test(dmesg) && /tideflow_sysinfo: unloaded/.test(dmesg));
check('dmesg free of BUG/Oops/WARNING/taint', !/BUG:|Oops|WARNING:|Call Trace|invalid context|scheduling while atomic/.test(dmesg));

console.log(`checks: ${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
